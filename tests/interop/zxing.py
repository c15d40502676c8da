#!/usr/bin/env python3
"""Independent barcode tools for the interop tests (PyPI zxing-cpp and pdf417gen).

usage: zxing.py decode FORMAT IMAGE OUT.bin     read a symbol's bytes with zxing-cpp
       zxing.py encode ENCODER IN.bin OUT.png   draw bytes with pdf417gen or zxing-cpp
FORMAT is pdf417 or datamatrix; ENCODER is pdf417gen, zxing-pdf417 or zxing-datamatrix.
"""
import sys

import zxingcpp
from PIL import Image

FORMATS = {"pdf417": zxingcpp.BarcodeFormat.PDF417, "datamatrix": zxingcpp.BarcodeFormat.DataMatrix}


def main(argv):
    if argv[1] == "decode":
        results = zxingcpp.read_barcodes(Image.open(argv[3]), formats=FORMATS[argv[2]])
        if not results:
            print("zxing-cpp found no symbol", file=sys.stderr)
            return 1
        open(argv[4], "wb").write(results[0].bytes)
        return 0
    payload = open(argv[3], "rb").read()
    if argv[2] == "pdf417gen":
        import pdf417gen

        codes = pdf417gen.encode(payload, columns=10, security_level=5)
        image = pdf417gen.render_image(codes, scale=3, ratio=3, padding=10)
    else:
        fmt = FORMATS[argv[2].removeprefix("zxing-")]
        options = {"ec_level": "5"} if fmt == zxingcpp.BarcodeFormat.PDF417 else {}
        symbol = zxingcpp.create_barcode(payload, fmt, **options).to_image(scale=4)
        height, width = symbol.shape[:2]
        image = Image.frombytes("L", (width, height), bytes(memoryview(symbol)))
    image.save(argv[4])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
