"""An independent oracle: python-stdnum's ``cn.ric`` and ``cn.uscc`` against tierflow's rules.

A sample of 200,000 ID numbers and 200,000 credit codes — what the generator writes (defects
included), realistic values from every division code of China, uniformly random ones and
random one-character mutations — goes through ``identifiers.citizen_id_faults`` /
``uscc_faults`` (vectorised) and through stdnum one value at a time. What tierflow accepts,
stdnum accepts, except for these documented differences, which the test pins exactly:

ID numbers (stdnum 2.2 ``cn.ric``):
- stdnum looks the 6-digit division code up in its own GB/T 2260 table (``cn/loc.dat``,
  from Wikipedia) and rejects a code that was not assigned *in the birth year*. A number
  keeps the code of where and when it was first issued, so this rejects real IDs: every
  Chongqing code is marked ``[1997-]`` (a Chongqing resident born before 1997 whose first ID
  was issued there has 5001xx/5002xx), ``500105`` 江北区 and ``500112`` 渝北区 end in 2025,
  ``500151``-``500156`` start in 2014-2016, 香港 ``810000`` starts in 1997 (the residence
  permits of people born earlier). tierflow checks the province only (design §4).
- stdnum rejects county codes missing from its table (``500199``, random ``50xxxx``, the
  ``5099xx`` zone codes); for a known province it does so by raising ``KeyError('county')``
  out of ``is_valid`` (a stdnum bug: not a ``ValidationError``), which the test counts as a
  rejection. tierflow accepts any code under a province, except 5099xx.
- the other way round, stdnum accepts birth dates before 1900 and in the future (tierflow
  does not: design §4) and a lower-case ``x`` (tierflow's rule does not; ingest normalises it
  to ``X`` before checking).

Credit codes (stdnum 2.2 ``cn.uscc``):
- stdnum wants chars 1-8 to be digits, so it rejects GB 32100's letter registering
  authorities (``A`` 中央军委改革和编制办公室, ``N`` 农业, ``Y`` other: e.g. ``N2…``
  for rural cooperatives); tierflow allows any GB 32100 character there.
- the other way round, stdnum checks neither the organisation code's own check character
  (GB 11714, char 17) nor the division part; tierflow does (design §4).

Where both check the same thing they must agree value for value: the GB 11643 and GB 32100
check characters, the calendar date (no roll-over), and the set of province codes.

The figures (seed 20261201, stdnum 2.2, today 2026-12-01; ``pytest -s`` prints them):
- ID numbers: tierflow accepts 91,190; stdnum accepts 27,667 of them and rejects 62,097
  (code not assigned in the birth year) and 1,426 (code not in its table). stdnum accepts
  9,860 that tierflow rejects: 1,708 born before 1900, 8,150 born in the future, 2 with a
  lower-case x. The other 126,617 verdicts are the same; no difference is unexplained.
- Credit codes: tierflow accepts 92,773; stdnum accepts 75,345 of them and rejects 17,428
  (a letter registering authority). stdnum accepts 51,373 that tierflow rejects (wrong
  organisation-code check character, unknown province, 5099xx). The other 131,199 agree.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import stdnum
from stdnum import numdb
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
)

from tierflow import identifiers as ids
from tierflow.contracts import catalog
from tierflow.generate import generate
from tierflow.generate import ids as gen_ids
from tierflow.ingest.parse import normalise_text

pytestmark = [pytest.mark.unit, pytest.mark.slow]

TODAY = dt.date(2026, 12, 1)  # fixed: the figures do not depend on the day the test runs
N = 200_000
SEED = 20261201
LOC = numdb.get("cn/loc")


def _loc_codes() -> tuple[list[str], set[int]]:
    """Every 6-digit code in stdnum's table, and its province codes (as a sample source)."""
    codes, provinces, province = [], set(), ""
    path = Path(stdnum.__file__).parent / "cn" / "loc.dat"
    for line in path.read_text(encoding="utf-8").splitlines():
        if line[:2].isdigit():
            province = line[:2]
            provinces.add(int(province))
        elif line.startswith("  ") and line[2:6].isdigit():
            codes.append(province + line[2:6])
    return codes, provinces


LOC_CODES, LOC_PROVINCES = _loc_codes()
CHONGQING = np.array(
    [int(d.code) for d in catalog().divisions.divisions if not d.functional_zone], dtype=np.int64
)


# --- stdnum's verdict, with the stage that failed ----------------------------------------------


def ric_verdict(value: str) -> str:
    try:
        ric.validate(value)
        return "ok"
    except (InvalidLength, InvalidFormat):
        return "format"
    except InvalidChecksum:
        return "checksum"
    except (InvalidComponent, KeyError):  # KeyError('county'): stdnum 2.2's unknown county
        try:
            ric.get_birth_date(value)
        except InvalidComponent:
            return "date"
        info = {k: v for _, props in LOC.info(value[:6]) for k, v in props.items()}
        return "place_not_in_birth_year" if "county" in info else "place_unknown"


def uscc_verdict(value: str) -> str:
    try:
        stdnum_uscc.validate(value)
        return "ok"
    except (InvalidLength, InvalidFormat):
        return "format"
    except InvalidChecksum:
        return "checksum"


# --- the sample ----------------------------------------------------------------------------------


def _strings(matrix: np.ndarray) -> list[str]:
    return gen_ids.from_matrix(matrix).to_pylist()


def _with_id_check(body: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(n, 17) digit bytes -> (n, 18) with the right check char where ``right``, else a wrong one."""
    check = np.frombuffer(ids.ID_CHECK_CHARS.encode(), dtype=np.uint8)
    index = ((body.astype(np.int64) - 48) @ ids.ID_WEIGHTS) % 11
    index = np.where(right, index, (index + 1 + np.arange(len(body)) % 10) % 11)
    return np.column_stack([body, check[index]])


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (np.asarray(values, dtype=np.int64)[:, None] // powers % 10 + 48).astype(np.uint8)


def _mutate(matrix: np.ndarray, alphabet: bytes, rng: np.random.Generator) -> np.ndarray:
    """One random character replaced by a random one of ``alphabet`` (may be the same)."""
    out = matrix.copy()
    rows = np.arange(len(out))
    out[rows, rng.integers(0, out.shape[1], len(out))] = np.frombuffer(alphabet, np.uint8)[
        rng.integers(0, len(alphabet), len(out))
    ]
    return out


def _generated(tmp: Path) -> dict[str, list[str]]:
    summary = generate(
        out=tmp,
        scale=60_000,
        seed=5,
        defect_rate=0.2,
        as_of=dt.date(2026, 11, 30),
        fmt="parquet",
        datasets=["psb.household", "samr.enterprise", "mca.social_org"],
    )
    paths = {f["dataset"]: f["path"] for f in summary["files"]}

    def read(dataset: str, column: str) -> list[str]:
        """The column as the checks see it: after ingest's normalisation (trim, full-width)."""
        ds = catalog().dataset(dataset)
        values = pq.read_table(paths[dataset])[column].combine_chunks()
        return normalise_text(values, ds.column(column), ds).drop_null().to_pylist()

    return {
        "ids": read("psb.household", "id_number")
        + read("samr.enterprise", "legal_rep_id_number")
        + read("mca.social_org", "legal_rep_id_number"),
        "usccs": read("samr.enterprise", "uscc") + read("mca.social_org", "uscc"),
    }


def sample_ids(generated: list[str], rng: np.random.Generator) -> list[str]:
    n = N - len(generated)
    k = n // 4
    # realistic: any division code of China, any real day 1880-2100, right check mostly
    division = np.array(LOC_CODES)[rng.integers(0, len(LOC_CODES), k)].astype(np.int64)
    days = rng.integers((dt.date(1880, 1, 1) - dt.date(1970, 1, 1)).days, 47_500, k)
    born = np.array([d.replace("-", "") for d in np.datetime_as_string(days.astype("M8[D]"))])
    body = np.column_stack(
        [
            _digits(division, 6),
            _digits(born.astype(np.int64), 8),
            _digits(rng.integers(0, 1000, k), 3),
        ]
    )
    realistic = _with_id_check(body, rng.random(k) < 0.9)
    # uniformly random digits (impossible dates and unknown provinces, mostly), right check
    noise = _with_id_check(rng.integers(48, 58, (k, 17)).astype(np.uint8), np.ones(k, bool))
    # one-character mutations of realistic values, the check recomputed for half of them
    mutated = _mutate(realistic, b"0123456789X", rng)
    recheck = rng.random(k) < 0.5
    mutated[recheck] = _with_id_check(mutated[recheck, :17], np.ones(recheck.sum(), bool))
    # zone codes, Chongqing codes and roll-over dates; a few lower-case x and wrong lengths
    rest = n - 3 * k
    zone_or_cq = np.where(
        rng.random(rest) < 0.5,
        509900 + rng.integers(0, 100, rest),
        CHONGQING[rng.integers(0, len(CHONGQING), rest)],
    )
    day = np.array(["0229", "0230", "0231", "0431", "1301", "0100", "0228", "1231"])
    dates = np.char.add(rng.integers(1895, 2030, rest).astype(str), day[rng.integers(0, 8, rest)])
    edge = _with_id_check(
        np.column_stack(
            [
                _digits(zone_or_cq, 6),
                _digits(dates.astype(np.int64), 8),
                _digits(rng.integers(0, 1000, rest), 3),
            ]
        ),
        np.ones(rest, bool),
    )
    values = generated + _strings(realistic) + _strings(noise) + _strings(mutated) + _strings(edge)
    for i in range(0, 400, 4):  # lower-case x, 17 and 19 characters
        values[i] = values[i][:17] + "x" if values[i].endswith("X") else values[i][:17]
        values[i + 1] = values[i + 1] + "1"
    return values


def sample_usccs(generated: list[str], rng: np.random.Generator) -> list[str]:
    n = N - len(generated)
    charset = np.frombuffer(ids.USCC_CHARSET.encode(), dtype=np.uint8)
    authority = np.frombuffer(b"9999995555111ANYY23456", np.uint8)[rng.integers(0, 22, n)]
    kind = np.frombuffer(b"1112239", np.uint8)[rng.integers(0, 7, n)]
    division = np.select(
        [rng.random(n) < 0.6, rng.random(n) < 0.5],
        [
            np.array(LOC_CODES)[rng.integers(0, len(LOC_CODES), n)].astype(np.int64),
            509900 + rng.integers(0, 5, n),
        ],
        rng.integers(0, 1_000_000, n),
    )
    org = charset[rng.integers(0, 31, (n, 8))]
    numeric = rng.random(n) < 0.5  # organisation codes of digits only, as most are
    org[numeric] = rng.integers(48, 58, (int(numeric.sum()), 8)).astype(np.uint8)
    first16 = np.column_stack([authority, kind, _digits(division, 6), org])
    org_check = gen_ids.org_check_bytes(first16[:, 8:16])
    wrong_org = rng.random(n) < 0.05
    org_check[wrong_org] = np.frombuffer(b"0123456789X", np.uint8)[
        rng.integers(0, 11, wrong_org.sum())
    ]
    first17 = np.column_stack([first16, org_check])
    check = gen_ids.uscc_check_bytes(first17)
    wrong = rng.random(n) < 0.05
    check[wrong] = charset[rng.integers(0, 31, wrong.sum())]
    matrix = np.column_stack([first17, check])
    mutate = rng.random(n) < 0.3
    mutated = _mutate(matrix[mutate], ids.USCC_CHARSET.encode() + b"IOZ", rng)
    recheck = rng.random(len(mutated)) < 0.5
    ok_chars = np.isin(mutated[:, :17], charset).all(axis=1)
    redo = recheck & ok_chars
    mutated[redo, 17] = gen_ids.uscc_check_bytes(mutated[redo, :17])
    matrix[mutate] = mutated
    return generated + _strings(matrix)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    rng = np.random.default_rng(SEED)
    generated = _generated(tmp_path_factory.mktemp("oracle"))
    return {
        "ids": sample_ids(generated["ids"], rng),
        "usccs": sample_usccs(generated["usccs"], rng),
    }


def _faults(flags: np.ndarray, kinds: tuple[ids.Fault, ...]) -> list[frozenset[str]]:
    return [frozenset(f.reason for f in kinds if int(v) & f) for v in flags]


def _print(title: str, tally: Counter[tuple[str, str]]) -> None:
    """The figures (shown with ``pytest -s``): per outcome, stdnum's reason where tierflow
    accepted, tierflow's faults where it rejected."""
    print(f"\n{title}:")
    for (outcome, why), count in sorted(tally.items()):
        print(f"  {outcome:6} {why:50} {count:7}")


def test_stdnum_knows_the_same_provinces():
    assert LOC_PROVINCES == set(ids.PROVINCE_CODES)


def test_citizen_ids_agree_with_stdnum_cn_ric(samples):
    values = samples["ids"]
    assert len(values) == N
    faults = _faults(ids.citizen_id_faults(pa.array(values), TODAY), ids.ID_FAULTS)
    verdicts = [ric_verdict(v) for v in values]
    tally: Counter[tuple[str, str]] = Counter()
    for value, ours, theirs in zip(values, faults, verdicts, strict=True):
        accepted = not ours
        tally[
            "agree" if accepted == (theirs == "ok") else "differ",
            theirs if accepted else ",".join(sorted(ours)),
        ] += 1
        if accepted and theirs != "ok":
            # only stdnum's place table may reject what tierflow accepts
            assert theirs in ("place_not_in_birth_year", "place_unknown"), (value, theirs)
        if theirs == "ok" and not accepted:
            # only tierflow's date bounds (and its upper-case X) may reject what stdnum accepts
            assert ours <= {"date_before_1900", "date_in_future", "format"}, (value, ours)
            assert "format" not in ours or value.endswith("x"), value
        well_formed = len(value) == 18 and value[:17].isdigit() and value[17] in "0123456789X"
        if well_formed:  # the shared checks agree value for value
            assert ("check_char" in ours) == (theirs == "checksum"), (value, ours, theirs)
            if theirs != "checksum":
                assert ("date_not_calendar" in ours) == (theirs == "date"), (value, ours)
            if "province_unknown" in ours or "internal_zone_code" in ours:
                assert theirs != "ok", value
    _print(f"cn.ric vs tierflow on {N} ID numbers", tally)
    agree = sum(c for (o, _), c in tally.items() if o == "agree")
    differ = N - agree
    assert tally["differ", "place_not_in_birth_year"] > 0 and tally["differ", "place_unknown"] > 0
    assert tally["differ", "date_before_1900"] > 0 and tally["differ", "date_in_future"] > 0
    assert agree + differ == N


def test_usccs_agree_with_stdnum_cn_uscc(samples):
    values = samples["usccs"]
    assert len(values) == N
    faults = _faults(ids.uscc_faults(pa.array(values)), ids.USCC_FAULTS)
    verdicts = [uscc_verdict(v) for v in values]
    tally: Counter[tuple[str, str]] = Counter()
    for value, ours, theirs in zip(values, faults, verdicts, strict=True):
        accepted = not ours
        tally[
            "agree" if accepted == (theirs == "ok") else "differ",
            theirs if accepted else ",".join(sorted(ours)),
        ] += 1
        if accepted and theirs != "ok":
            # a letter registering authority / entity kind (GB 32100 allows A, N, Y, ...)
            assert theirs == "format" and not value[:2].isdigit(), (value, theirs)
        if theirs == "ok" and not accepted:
            assert ours <= {"org_check_char", "province_unknown", "internal_zone_code"}, (
                value,
                ours,
            )
        if theirs != "format" and "format" not in ours:
            assert ("check_char" in ours) == (theirs == "checksum"), (value, ours, theirs)
    _print(f"cn.uscc vs tierflow on {N} credit codes", tally)
    assert tally["differ", "format"] > 0  # letter authorities
    assert tally["differ", "province_unknown"] > 0 and tally["differ", "internal_zone_code"] > 0
