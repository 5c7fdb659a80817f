"""Generate a full-size synthetic trade.gov CSL CSV for benchmarks.

Same header and cell conventions as the official file (multi-valued cells joined with "; ",
Entity List aliases ending "; and <alias>", empty `type` on Entity List rows, affiliate names
and location text in Entity List names, several FR citations), a source mix close to the real
one (about 15,000 SDN and 2,800 EL rows of ~26,000), companies from word pools, individuals and
vessels, plus the real device makers so matching has true hits to find.  Deterministic for a
given seed.

    python bench/make_csl.py --rows 26000 --seed 7 --output /tmp/csl-26k.csv
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from entityscan.lists.csl_reader import CSL_HEADER

HEADER = CSL_HEADER

# (source string, share of rows, list url); shares follow the 2024 counts in the reference.
SOURCES = [
    ("Specially Designated Nationals (SDN) - Treasury Department", 0.575,
     "https://sanctionssearch.ofac.treas.gov/"),
    ("Entity List (EL) - Bureau of Industry and Security", 0.107,
     "https://www.bis.gov/entity-list"),
    ("Sectoral Sanctions Identifications List (SSI) - Treasury Department", 0.05,
     "https://sanctionssearch.ofac.treas.gov/"),
    ("Non-SDN Menu-Based Sanctions List (NS-MBS List) - Treasury Department", 0.03,
     "https://sanctionssearch.ofac.treas.gov/"),
    ("ITAR Debarred (DTC) - State Department", 0.04,
     "https://www.pmddtc.state.gov/"),
    ("Nonproliferation Sanctions (ISN) - State Department", 0.04,
     "https://www.state.gov/"),
    ("Denied Persons List (DPL) - Bureau of Industry and Security", 0.03,
     "https://www.bis.gov/dpl"),
    ("Unverified List (UVL) - Bureau of Industry and Security", 0.02,
     "https://www.bis.gov/uvl"),
    ("Military End User (MEU) List - Bureau of Industry and Security", 0.03,
     "https://www.bis.gov/meu"),
    ("Foreign Sanctions Evaders (FSE) - Treasury Department", 0.01,
     "https://sanctionssearch.ofac.treas.gov/"),
    ("Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department",
     0.01, "https://home.treasury.gov/"),
    ("Capta List (CAP) - Treasury Department", 0.004, "https://sanctionssearch.ofac.treas.gov/"),
    ("Palestinian Legislative Council List (PLC) - Treasury Department", 0.004,
     "https://sanctionssearch.ofac.treas.gov/"),
]

PLACES = [("Shenzhen", "Guangdong", "CN"), ("Hangzhou", "Zhejiang", "CN"),
          ("Guiyang", "Guizhou", "CN"), ("Wuhan", "Hubei", "CN"), ("Chengdu", "Sichuan", "CN"),
          ("Beijing", "", "CN"), ("Shanghai", "", "CN"), ("Moscow", "", "RU"),
          ("Saint Petersburg", "", "RU"), ("Tehran", "", "IR"), ("Dubai", "", "AE"),
          ("Istanbul", "", "TR"), ("Minsk", "", "BY"), ("Karachi", "Sindh", "PK"),
          ("Hong Kong", "", "HK"), ("Pyongyang", "", "KP"), ("Damascus", "", "SY"),
          ("Caracas", "", "VE"), ("Yerevan", "", "AM"), ("Tashkent", "", "UZ")]
PREFIX = ("Shenzhen Guangzhou Hangzhou Beijing Shanghai Wuhan Chengdu Xi'an Nanjing Tianjin "
          "Moscow Ural Siberian Baltic Volga Tehran Persian Gulf Caspian Dubai Emirates "
          "Anatolian Minsk Karachi Pacific Eastern Northern Golden Silver Red Star New Great "
          "United Global Asia Euro Trans Inter").split()
CORE = ("Hua Zhong Xin Tong Da Guo Tian Hai Feng Sheng Long Jin Rui Kang Bo Tai Yuan Heng "
        "Almaz Antey Rostec Kalashnikov Vostok Energia Neva Sever Zenit Polyus Arian Pars "
        "Sepehr Kavir Alborz Nova Apex Vertex Orion Atlas Titan Zenith Meridian Falcon "
        "Phoenix Sigma Delta Quantum Helix Nexus Vector Aurora Summit").split()
ACTIVITY = ("Electronics Technology, Microelectronics, Semiconductor, Optical, Photonics, "
            "Aerospace, Aviation, Shipping, Marine, Petroleum, Petrochemical, Trading, "
            "Import and Export, Logistics, Machinery, Precision Instruments, Communication, "
            "Telecommunication Equipment, Information Technology, Software, Defense Systems, "
            "Radar, Navigation, Engineering, Metallurgy, Chemical, Materials, Investment, "
            "Industrial, Automation, Drone, Robotics, Energy, Nuclear Equipment, Security "
            "Systems").split(", ")
FORMS = ["Co., Ltd.", "Company Limited", "Limited", "LLC", "JSC", "OOO", "Corporation",
         "Group Co., Ltd.", "Trading FZE", "Industrial Co., Ltd.", "Inc.", "GmbH", "PJSC"]
GIVEN = ("Ali Mohammad Hassan Reza Ahmad Omar Yusuf Ivan Sergey Dmitry Alexei Igor Vladimir "
         "Wei Jun Hong Ming Li Xiaoming Kim Jong Chol Abdul Rahim Farid Karim Nikolai Oleg "
         "Pavel Viktor Hamid Mehdi Said Tariq").split()
FAMILY = ("AL-HARBI AL-ZAHRANI HOSSEINI KARIMI REZAEI IVANOV PETROV SOKOLOV VOLKOV KUZNETSOV "
          "ZHANG WANG LIU CHEN YANG ZHAO KIM PAK RI CHOE KHAN AHMED RAHMAN SIDDIQUI NASSER "
          "HADDAD MANSOUR ORLOV MOROZOV").split()
VESSEL = ("STAR OCEAN PEARL SEA GLORY WIND HORIZON SPIRIT FORTUNE DIAMOND EAGLE DRAGON "
          "BREEZE VOYAGER CROWN PRIDE").split()

# Real makers (as the Entity List and CMIC publish them) so benchmarks have true hits.
REAL_ROWS = [
    ("Entity List (EL) - Bureau of Industry and Security",
     "Hangzhou Hikvision Digital Technology Co., Ltd.", "Hikvision; and Hangzhou Hikvision",
     "84 FR 54002", "2019-10-09"),
    ("Entity List (EL) - Bureau of Industry and Security",
     "Zhejiang Dahua Technology Co., Ltd.", "Dahua Technology; and Dahua",
     "84 FR 54002", "2019-10-09"),
    ("Entity List (EL) - Bureau of Industry and Security", "IFLYTEK",
     "iFLYTEK Co., Ltd.", "84 FR 54002", "2019-10-09"),
    ("Entity List (EL) - Bureau of Industry and Security", "Megvii Technology",
     "Megvii", "84 FR 54002", "2019-10-09"),
    ("Entity List (EL) - Bureau of Industry and Security", "Sense Time",
     "SenseTime", "84 FR 54002", "2019-10-09"),
    ("Entity List (EL) - Bureau of Industry and Security", "Yitu Technologies",
     "Yitu", "84 FR 54002", "2019-10-09"),
    ("Entity List (EL) - Bureau of Industry and Security",
     "Xiamen Meiya Pico Information Co. Ltd.", "", "84 FR 54002", "2019-10-09"),
    ("Entity List (EL) - Bureau of Industry and Security",
     "Yixin Science and Technology Co. Ltd.", "", "84 FR 54002", "2019-10-09"),
    ("Entity List (EL) - Bureau of Industry and Security",
     "Huawei Technologies Co., Ltd. (Huawei). Affiliated Entity: Huawei Cloud Beijing",
     "", "84 FR 22961; 85 FR 51603", "2020-08-17"),
    ("Entity List (EL) - Bureau of Industry and Security",
     "Huawei Technologies Co., Ltd. (Huawei). Affiliated Entity: Huawei Cloud Guiyang, "
     "Guiyang, Guizhou", "", "85 FR 51603", "2020-08-17"),
    ("Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department",
     "SENSETIME GROUP LIMITED", "SENSETIME", "", "2021-12-10"),
    ("Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department",
     "MEGVII TECHNOLOGY LIMITED", "MEGVII", "", "2021-12-16"),
]


def company(rng: random.Random) -> str:
    words = [rng.choice(PREFIX), rng.choice(CORE)]
    if rng.random() < 0.4:
        words.append(rng.choice(CORE))
    return f"{' '.join(words)} {rng.choice(ACTIVITY)} {rng.choice(FORMS)}"


def person(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (f" {rng.choice(GIVEN)}" if rng.random() < 0.4 else "")
    return f"{rng.choice(FAMILY)}, {given}"


def address(rng: random.Random) -> tuple[str, str]:
    city, state, country = rng.choice(PLACES)
    street = f"No. {rng.randint(1, 999)} {rng.choice(CORE)} Road"
    parts = [street, city, state, str(rng.randint(100000, 999999)) if rng.random() < 0.5
             else "", country]
    return ", ".join(p for p in parts if p), country


def date(rng: random.Random, start: int = 1997, end: int = 2025) -> str:
    return f"{rng.randint(start, end)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def make_row(rng: random.Random, index: int, source: str, url: str) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row["_id"] = f"{rng.getrandbits(128):032x}"
    row["source"] = source
    row["source_list_url"] = url
    row["start_date"] = date(rng)
    treasury = "Treasury" in source
    el_like = "Bureau of Industry" in source
    kind = "Entity"
    if treasury:
        roll = rng.random()
        kind = "Individual" if roll < 0.45 else "Vessel" if roll < 0.52 else "Entity"
        row["type"] = kind
        row["entity_number"] = str(10000 + index)
        row["programs"] = rng.choice(["SDGT", "IRAN", "RUSSIA-EO14024", "UKRAINE-EO13662",
                                      "DPRK3", "SYRIA", "CMIC-EO13959", "NPWMD"])
    if kind == "Individual":
        row["name"] = person(rng)
        row["alt_names"] = "; ".join(person(rng) for _ in range(rng.randint(0, 3)))
        row["dates_of_birth"] = date(rng, 1940, 1995)
        row["nationalities"] = rng.choice(PLACES)[2]
        row["citizenships"] = row["nationalities"]
        row["places_of_birth"] = rng.choice(PLACES)[0]
    elif kind == "Vessel":
        row["name"] = f"{rng.choice(VESSEL)} {rng.choice(VESSEL)} {rng.randint(1, 99)}"
        row["vessel_type"] = rng.choice(["Crude Oil Tanker", "General Cargo", "Bulk Carrier"])
        row["gross_tonnage"] = str(rng.randint(2000, 160000))
        row["vessel_flag"] = rng.choice(["Panama", "Liberia", "Iran", "Cameroon", "Comoros"])
        row["call_sign"] = f"{rng.choice('ABCDEFGH')}{rng.randint(1000, 9999)}"
        row["ids"] = f"IMO, {rng.randint(8000000, 9999999)}, "
    else:
        name = company(rng)
        if el_like and rng.random() < 0.08:
            city, state, _ = rng.choice(PLACES[:5])
            name = f"{name}, {city}, {state}"
        if el_like and rng.random() < 0.04:
            name = f"{company(rng)} ({rng.choice(CORE)}). Affiliated Entity: {company(rng)}"
        row["name"] = name
        aliases = [company(rng).rsplit(" ", 1)[0] for _ in range(rng.randint(0, 3))]
        if el_like and len(aliases) > 1:
            aliases[-1] = "and " + aliases[-1]
        row["alt_names"] = "; ".join(aliases)
    addresses = [address(rng) for _ in range(rng.randint(1, 3 if el_like else 1))]
    row["addresses"] = ("; and " if el_like else "; ").join(a for a, _ in addresses)
    if el_like or "State" in source:
        cites = [f"{rng.randint(60, 90)} FR {rng.randint(1000, 99999)}"
                 for _ in range(rng.randint(1, 2))]
        row["federal_register_notice"] = "; ".join(cites)
        row["license_requirement"] = "For all items subject to the EAR."
        row["license_policy"] = "Presumption of denial."
    if rng.random() < 0.1:
        row["remarks"] = "Additional sanctions information - subject to secondary sanctions."
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=26000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, default=None,
                        help="CSV file to write (default: stdout)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    weights = [share for _, share, _ in SOURCES]
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        real_at = {int(args.rows * (i + 1) / (len(REAL_ROWS) + 1)): r
                   for i, r in enumerate(REAL_ROWS)}
        for index in range(args.rows):
            if index in real_at:
                source, name, alts, cite, start = real_at[index]
                row = dict.fromkeys(HEADER, "")
                row.update(_id=f"{rng.getrandbits(128):032x}", source=source, name=name,
                           alt_names=alts, federal_register_notice=cite, start_date=start,
                           addresses="Hangzhou, Zhejiang, CN")
            else:
                source, _, url = rng.choices(SOURCES, weights)[0]
                row = make_row(rng, index, source, url)
            writer.writerow([row[h] for h in HEADER])
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
