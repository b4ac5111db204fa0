"""Regenerate src/ketnoi/catalog/data/admin_units_*.csv.gz from the `vietnamadminunits` package
(MIT licence, https://github.com/tranngocminhhieu/vietnamadminunits), whose SQLite dataset holds the
official unit list after the July 2025 rearrangement (34 provinces, 3,321 communes/wards) and the
earlier three-level list (63 provinces, districts, 10,040 wards), with national codes.

Usage: pip download --no-deps vietnamadminunits==1.0.4; unzip the wheel; then
    python scripts/extract_admin_units.py path/to/vietnamadminunits/data/dataset.db
"""

import csv
import gzip
import io
import sqlite3
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "ketnoi" / "catalog" / "data"
FIELDS = ["code", "name", "division_type", "level", "parent_code", "latitude", "longitude"]


def province_type(name: str) -> str:
    return "Thành phố trực thuộc Trung ương" if name.startswith("Thành phố") else "Tỉnh"


def write(name: str, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    with gzip.open(OUT / name, "wt", encoding="utf-8", compresslevel=9) as f:
        f.write(buf.getvalue())
    print(name, len(rows))


def main(db_path: str) -> None:
    c = sqlite3.connect(db_path)
    rows, seen = [], set()
    for p, pcode, plat, plon, w, wtype, wcode, wlat, wlon in c.execute(
            "SELECT province, provinceCode, provinceLat, provinceLon, ward, wardType, wardCode, wardLat, wardLon "
            "FROM admin_units ORDER BY provinceCode, wardCode"):
        if pcode not in seen:
            seen.add(pcode)
            rows.append(dict(code=pcode, name=p, division_type=province_type(p), level=1, parent_code="",
                             latitude=plat, longitude=plon))
        rows.append(dict(code=wcode, name=w, division_type=wtype, level=2, parent_code=pcode, latitude=wlat,
                         longitude=wlon))
    write("admin_units_2025.csv.gz", rows)
    rows, seen = [], set()
    for (p, pcode, plat, plon, d, dtype, dcode, dlat, dlon, w, wtype, wcode, wlat, wlon) in c.execute(
            "SELECT province, provinceCode, provinceLat, provinceLon, district, districtType, districtCode, "
            "districtLat, districtLon, ward, wardType, wardCode, wardLat, wardLon FROM admin_units_legacy "
            "ORDER BY provinceCode, districtCode, wardCode"):
        if pcode not in seen:
            seen.add(pcode)
            rows.append(dict(code=pcode, name=p, division_type=province_type(p), level=1, parent_code="",
                             latitude=plat, longitude=plon))
        if dcode not in seen:
            seen.add(dcode)
            rows.append(dict(code=dcode, name=d, division_type=dtype, level=2, parent_code=pcode, latitude=dlat,
                             longitude=dlon))
        if wcode:  # island districts (e.g. Hoàng Sa, Bạch Long Vĩ) have no wards
            rows.append(dict(code=wcode, name=w, division_type=wtype, level=3, parent_code=dcode, latitude=wlat,
                             longitude=wlon))
    write("admin_units_legacy.csv.gz", rows)


if __name__ == "__main__":
    main(sys.argv[1])
