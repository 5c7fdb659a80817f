"""Deterministic synthetic procurement line items for the screening benchmark.

Shaped like a real purchase-order export: suppliers and brands repeat (a few thousand
suppliers, a few hundred brands), part numbers and descriptions are mostly unique, and about
3 % of lines touch a listed maker through a name, a brand, a relabel or a part number.

`--mix dense` is the adversarial case: a vendor master of Chinese electronics suppliers
screened against the Entity List.  Half the lines name a supplier built from the same words as
the generated CSL's companies (`bench/make_csl.py`: a Chinese city, one or two of its core
words such as `Hua`, `Xin` or `Vertex`, an activity, a legal form), sometimes squashed
(`Huaxin`), with a typo or without the city, so they come close to list names and share their
tokens; some hit one.

    python bench/make_items.py --count 100000 --seed 7 --output items.csv
    python bench/make_items.py --count 100000 --seed 7 --mix dense --output dense.csv
"""

from __future__ import annotations

import argparse
import csv
import random
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.make_csl import ACTIVITY, CORE, PREFIX

SYLLABLES = ("an", "bel", "cor", "dan", "el", "fen", "gar", "hol", "is", "jun", "kel", "lor",
             "mar", "nor", "ost", "pal", "quin", "ros", "sel", "tor", "ul", "ver", "wes", "xan",
             "yor", "zen")
FORMS = ("Inc.", "LLC", "Ltd", "GmbH", "Co., Ltd.", "S.A.", "B.V.", "Corp.", "")
KINDS = ("Supply", "Distribution", "Electric", "Systems", "Solutions", "Trading", "Partners",
         "Industrial", "Networks", "Office")
PRODUCTS = ("dome camera", "bullet camera", "network switch", "patch cable", "laptop",
            "toner cartridge", "UPS battery", "door controller", "NVR", "hard drive",
            "monitor", "PoE injector", "fibre module", "access point", "keyboard",
            "conduit", "rack shelf", "badge reader", "desk phone", "router")
OTHER_BRANDS = ("Axis", "Bosch", "Hanwha Vision", "Avigilon", "Mobotix", "Ubiquiti", "Reolink",
                "Uniview", "TP-Link", "Cisco", "Dell", "HP", "Lenovo", "APC", "Belden",
                "Panduit", "Netgear", "Logitech", "Samsung", "Seagate", "Western Digital",
                "Vivotek", "Sony", "Canon", "Panasonic", "Aruba", "Juniper", "Brother")
LISTED_NAMES = ("Hangzhou Hikvision Digital Technology Co., Ltd.", "HIKVISION",
                "Zhejiang Dahua Technology Co.,Ltd", "Dahua Technology",
                "Huawei Technologies Co., Ltd.", "ZTE Corporation", "Hytera Communications")
LISTED_BRANDS = ("EZVIZ", "HiLook", "Amcrest", "IMOU", "ANNKE", "Lorex", "Hikvision", "Dahua")
LISTED_PARTS = ("DS-2CD2143G2-I", "DS-2CD2387G2-LU", "DS-7608NI-K2", "IPC-HFW2431S-S-S2",
                "DH-IPC-HDBW2431E-S-S2", "NVR4108HS-4KS2", "VTO2202F-P-S2", "DS-KV6113-WPE1")


def company(rng: random.Random) -> str:
    stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    parts = [stem, rng.choice(KINDS)] if rng.random() < 0.7 else [stem]
    form = rng.choice(FORMS)
    return " ".join(parts + ([form] if form else []))


def part_number(rng: random.Random) -> str:
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(2, 4)))
    return f"{letters}-{rng.randint(100, 99999)}{rng.choice(['', 'A', 'X', '-B'])}"


# The Chinese cities of the generated CSL's company names.
CN_PREFIX = PREFIX[:10]


def near_list_name(rng: random.Random) -> str:
    """A supplier name made like the generated CSL's companies, so it comes close to some."""
    core = [rng.choice(CORE) for _ in range(rng.choice((1, 2, 2)))]
    roll = rng.random()
    if roll < 0.25:
        core = ["".join(core).capitalize()]  # `Huaxin`
    elif roll < 0.35:
        word = core[-1]
        at = rng.randrange(len(word))
        core[-1] = word[:at] + rng.choice(string.ascii_lowercase) + word[at + 1:]
    words = ([] if rng.random() < 0.2 else [rng.choice(CN_PREFIX)]) + core
    return f"{' '.join(words)} {rng.choice(ACTIVITY)} {rng.choice(FORMS)}"


def generate(count: int, seed: int, mix: str = "sparse") -> list[dict[str, str]]:
    rng = random.Random(seed)
    suppliers = [company(rng) for _ in range(3000)]
    brands = list(OTHER_BRANDS) + [company(rng).split()[0] for _ in range(300)]
    rows: list[dict[str, str]] = []
    for n in range(count):
        row = {"id": f"PO-{n // 10:06d}/{n % 10}", "supplier": rng.choice(suppliers),
               "manufacturer": "", "brand": rng.choice(brands),
               "description": f"{rng.choice(PRODUCTS)} {rng.randint(1, 64)} "
                              f"{rng.choice(['pcs', 'units', 'm', 'kit'])} ref "
                              f"{rng.randint(10_000, 99_999)}",
               "part_number": part_number(rng), "cost_centre": f"CC-{rng.randint(1, 40)}"}
        if mix == "dense" and rng.random() < 0.5:
            row["supplier"] = near_list_name(rng)
            if rng.random() < 0.3:
                row["manufacturer"] = near_list_name(rng)
        roll = rng.random()
        if roll < 0.01:
            row["manufacturer"] = rng.choice(LISTED_NAMES)
        elif roll < 0.02:
            row["brand"] = rng.choice(LISTED_BRANDS)
        elif roll < 0.03:
            row["part_number"] = rng.choice(LISTED_PARTS)
        rows.append(row)
    return rows


def write(rows: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mix", choices=("sparse", "dense"), default="sparse",
                        help="sparse: a realistic export (default); dense: half the lines "
                             "come close to list names")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    write(generate(args.count, args.seed, args.mix), args.output)


if __name__ == "__main__":
    main()
