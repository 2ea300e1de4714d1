"""Research access under the Five Safes: accredited people, projects applied for and
approved by two people of the LMIS unit (and by the data-owning agencies whose
agreements require it), project keys for project pseudonyms, and every step audited."""
