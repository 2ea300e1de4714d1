// Progressive enhancement only: every page works without this script.
// Forms marked data-confirm ask before they submit (a destructive action).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm) {
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }
});
