import csv
import shutil
from pathlib import Path

import pytest
import yaml

from tierflow import contracts as c
from tierflow.cli import main

pytestmark = pytest.mark.unit

BROKEN = Path(__file__).parents[1] / "broken_contracts"
SHARED_TOWNSHIPS = (
    Path(__file__).resolve().parents[2] / "schemas" / "reference" / "chongqing_townships.csv"
)
MODELS = {
    "dataset": c.Dataset,
    "divisions": c.DivisionReference,
    "demand": c.DemandList,
    "responsibility": c.ResponsibilityList,
    "negative": c.NegativeList,
}


def test_catalog_loads_all_eleven_datasets():
    cat = c.load_catalog()
    assert {d.id for d in cat.datasets} == {
        "psb.household",
        "nhc.vital_event",
        "hrss.social_insurance",
        "samr.enterprise",
        "tax.taxpayer",
        "mca.social_org",
        "mnr.land_parcel",
        "mnr.address",
        "lic.issuance",
        "gov.service_case",
        "trans.truck_gps",
    }
    for ds in cat.datasets:
        assert ds.owner and ds.label and ds.frequency and ds.sharing
        assert all(1 <= col.level <= 4 and col.label for col in ds.columns)


def test_contract_columns_follow_design_section_5():
    cat = c.load_catalog()
    household = cat.dataset("psb.household")
    assert [col.name for col in household.columns] == [
        "id_number",
        "name",
        "gender",
        "ethnicity",
        "birth_date",
        "division_code",
        "address",
        "status",
        "updated_at",
    ]
    assert cat.dataset("lic.issuance").key == ("license_type_code", "license_number")
    assert cat.dataset("mca.social_org").column("uscc").pattern == "^5"


def test_divisions_hold_the_38_real_districts_and_three_flagged_zones():
    ref = c.load_catalog().divisions
    real = {d.code: d.name for d in ref.divisions if not d.functional_zone}
    zones = [d for d in ref.divisions if d.functional_zone]
    assert len(real) == 38 and len(zones) == 3
    assert sum(code.startswith("5001") for code in real) == 26
    assert sum(code.startswith("5002") for code in real) == 12
    assert real["500103"] == "渝中区"
    assert len(ref.pilot_codes) == 24 and "500103" in ref.pilot_codes
    with SHARED_TOWNSHIPS.open(encoding="utf-8") as handle:
        official_districts = {row["areaCode"] for row in csv.DictReader(handle)}
    assert official_districts == set(real), (
        "district codes must match the national statistical table"
    )


def test_negative_list_default_blocks_ethnicity():
    entries = c.load_catalog().negative.entries
    assert any(e.dataset == "psb.household" and e.field == "ethnicity" for e in entries)


def _broken_cases():
    return sorted(BROKEN.glob("*.yaml"))


@pytest.mark.parametrize("path", _broken_cases(), ids=lambda p: p.stem)
def test_broken_contract_is_rejected_with_a_clear_message(path):
    expected = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect:").strip()
    model = MODELS[path.stem.split("-", 1)[0]]
    with pytest.raises(c.ContractError) as excinfo:
        if model is c.Dataset:
            c.load_dataset_file(path)
        else:
            c._validate(model, path, c._read_yaml(path))
    message = str(excinfo.value)
    assert message.startswith(path.name), message
    assert expected in message
    assert "\n" not in message


def test_there_are_enough_broken_cases():
    assert len(_broken_cases()) >= 20


def _catalog_copy(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(c.schemas_dir(), root)
    return root


@pytest.mark.parametrize(
    ("file", "mutate", "expected"),
    [
        (
            "lists/demand.yaml",
            lambda d: d["demands"][0].update(dataset="psb.nope"),
            "names unknown dataset 'psb.nope'",
        ),
        (
            "lists/demand.yaml",
            lambda d: d["demands"][0].update(fields=["salary"]),
            "asks for unknown field psb.household.salary",
        ),
        (
            "lists/demand.yaml",
            lambda d: d["demands"][0].update(consumer="d999999"),
            "unknown consumer 'd999999'",
        ),
        (
            "lists/negative.yaml",
            lambda d: d["entries"][0].update(field="religion"),
            "unknown field hrss.social_insurance.religion",
        ),
        (
            "lists/responsibility.yaml",
            lambda d: d["responsibilities"][0].update(department="tax"),
            "does not own it",
        ),
        (  # a library is a survivorship file: no schemas/survivorship/vehicle.yaml here
            "datasets/tax.taxpayer.yaml",
            lambda d: d.update(library="vehicle"),
            "dataset tax.taxpayer names unknown library 'vehicle'",
        ),
    ],
)
def test_cross_references_between_lists_and_contracts_are_checked(tmp_path, file, mutate, expected):
    root = _catalog_copy(tmp_path)
    data = yaml.safe_load((root / file).read_text(encoding="utf-8"))
    mutate(data)
    (root / file).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(c.ContractError, match=expected.replace(".", r"\.")):
        c.load_catalog(root)


def test_dataset_file_name_must_match_its_id(tmp_path):
    root = _catalog_copy(tmp_path)
    (root / "datasets" / "psb.household.yaml").rename(root / "datasets" / "psb.people.yaml")
    with pytest.raises(c.ContractError, match="file name must be the dataset id"):
        c.load_catalog(root)


def test_cli_reports_a_broken_catalog_in_one_line(tmp_path, capsys):
    root = _catalog_copy(tmp_path)
    (root / "datasets" / "tax.taxpayer.yaml").write_text(
        "id: tax.taxpayer\nbogus: 1\n", encoding="utf-8"
    )
    assert main(["contracts", "--schemas", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tierflow contracts: error: tax.taxpayer.yaml:") and "\n" not in err


@pytest.mark.unit
def test_approvers_name_known_departments_and_at_least_one_user():
    from pydantic import ValidationError

    from tierflow.contracts import Catalog, catalog

    data = catalog().model_dump()
    for approvers, why in (
        ({"xyz": ["ops"]}, "unknown department 'xyz'"),
        ({"psb": []}, "at least one"),
    ):
        broken = {**data, "responsibility": {**data["responsibility"], "approvers": approvers}}
        with pytest.raises(ValidationError, match=why):
            Catalog.model_validate(broken)
