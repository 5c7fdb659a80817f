"""Hostile-safe XML helpers: every XML from a device goes through defusedxml, with a size
cap before parsing; elements are addressed by local name because devices vary namespaces."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

#: Larger XML documents from devices are refused unparsed.
MAX_XML_BYTES = 256 * 1024


class UnsafeXML(ValueError):
    """The document was refused: too large, malformed, or using entities/DTDs."""

    def __init__(self, message: str, *, hostile: bool = False):
        super().__init__(message)
        #: True for entity/DTD declarations and oversized documents (bombs, not typos).
        self.hostile = hostile


def parse_xml(data: bytes | str) -> Element:
    if len(data) > MAX_XML_BYTES:
        raise UnsafeXML(f"XML document of {len(data)} bytes exceeds {MAX_XML_BYTES}",
                        hostile=True)
    if isinstance(data, bytes):
        data = data.lstrip(b"\xef\xbb\xbf \t\r\n\x00").rstrip(b"\x00 \t\r\n")
    else:
        data = data.strip().lstrip("\ufeff")
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise UnsafeXML(f"{type(exc).__name__}: {str(exc)[:120]}", hostile=True) from None
    except Exception as exc:  # ParseError and anything else a broken document causes
        raise UnsafeXML(f"{type(exc).__name__}: {str(exc)[:120]}") from None


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def find_all(root: Element, name: str) -> list[Element]:
    return [el for el in root.iter() if local(el.tag) == name]


def find_text(root: Element, *path: str) -> str | None:
    """Text of the first element reached by following local names (any depth per step)."""
    current: list[Element] = [root]
    for name in path:
        nxt: list[Element] = []
        for el in current:
            nxt.extend(child for child in el.iter() if local(child.tag) == name and child is not el)
        if not nxt:
            return None
        current = nxt[:1]
    text = current[0].text
    return text.strip() if text and text.strip() else None


def children_text(element: Element) -> dict[str, str]:
    """Direct children's local names -> stripped text (first occurrence wins)."""
    out: dict[str, str] = {}
    for child in element:
        name = local(child.tag)
        if name and name not in out and child.text is not None and child.text.strip():
            out[name] = child.text.strip()[:512]
    return out
