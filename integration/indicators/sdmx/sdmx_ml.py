"""Writing SDMX-ML with the standard library's ElementTree.

Elements are named with the conventional prefixes (``mes:Structure``, ``str:Codelist``)
and the root declares them, so the written XML reads like the standard's samples and
needs no namespace registration (which in ElementTree is process-wide state).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

_BASE = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1"
#: SDMX-ML 2.1 namespaces by their conventional prefix.
MES = f"{_BASE}/message"
STR = f"{_BASE}/structure"
COM = f"{_BASE}/common"
SS = f"{_BASE}/data/structurespecific"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"


def root(tag: str, namespaces: Mapping[str, str], **attrib: str) -> ET.Element:
    """The root element ``tag`` declaring ``namespaces`` (prefix → URI; ``""`` default)."""
    declarations = {
        ("xmlns" if prefix == "" else f"xmlns:{prefix}"): uri for prefix, uri in namespaces.items()
    }
    return ET.Element(tag, {**declarations, **attrib})


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    """A child ``tag`` of ``parent`` with ``attrib`` and, if given, ``text``."""
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def serialise(element: ET.Element) -> bytes:
    """The document, indented, with an XML declaration, in UTF-8."""
    ET.indent(element)
    return bytes(ET.tostring(element, encoding="UTF-8", xml_declaration=True))
