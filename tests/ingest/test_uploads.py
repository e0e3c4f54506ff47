"""Uploads are checked by their bytes, not only their names: the formats the loaders read (scans as
PNG/JPG, .doc/.wps, OFD) are accepted, a file whose content contradicts its extension is refused."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from ingest import uploads


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(out, format=fmt)
    return out.getvalue()


def _ofd() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("OFD.xml", '<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"/>')
        zf.writestr("Doc_0/Document.xml", "<ofd:Document/>")
    return out.getvalue()


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("扫描件.png", _image("PNG"), "png"),
        ("扫描件.jpg", _image("JPEG"), "jpeg"),
        ("通知.doc", OLE, "word97"),
        ("通知.wps", OLE, "word97"),
        ("通知.doc", "{\\rtf1\\ansi 千县工程}".encode(), "word97"),
        ("公文.ofd", _ofd(), "ofd"),
    ],
    ids=["png", "jpg", "doc", "wps", "rtf-doc", "ofd"],
)
def test_the_formats_the_loaders_read_are_accepted(name: str, data: bytes, kind: str):
    assert uploads.check_upload(name, data, 10**6) == kind


@pytest.mark.parametrize(
    ("name", "data"),
    [("扫描件.png", _image("JPEG")), ("公文.ofd", OLE), ("通知.doc", _ofd()), ("通知.wps", "普通文本".encode())],
    ids=["jpeg-as-png", "ole-as-ofd", "ofd-as-doc", "text-as-wps"],
)
def test_content_that_contradicts_its_extension_is_refused(name: str, data: bytes):
    with pytest.raises(uploads.UploadError, match="文件内容与扩展名不符"):
        uploads.check_upload(name, data, 10**6)


def test_an_unsupported_type_names_every_supported_one():
    with pytest.raises(uploads.UploadError) as err:
        uploads.check_upload("表格.xlsx", b"PK\x03\x04", 10**6)
    for kind in ("PDF", "DOCX", "DOC", "WPS", "OFD", "PNG", "JPG"):
        assert kind in str(err.value)
