"""The Sortition Foundation's maximin (sortition-algorithms, HiGHS) on one pool, for the
comparison in tests/tests/blackbox/selection.rs: prints one JSON line with the lowest selection
probability of any volunteer and the seconds it took.

usage: sortition_maximin.py FEATURES_CSV PEOPLE_CSV PANEL_SIZE [ADDRESS_COLUMN,...]
"""
import csv
import json
import sys
import time

from sortition_algorithms.committee_generation import find_distribution_maximin
from sortition_algorithms.features import read_in_features
from sortition_algorithms.people import read_in_people
from sortition_algorithms.settings import Settings


def table(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def main():
    features_path, people_path, panel_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    address_columns = [c for c in (sys.argv[4] if len(sys.argv) > 4 else "").split(",") if c]
    features_head, features_body = table(features_path)
    features, _, _ = read_in_features(features_head, features_body, panel_size)
    settings = Settings(
        id_column="id",
        columns_to_keep=[],
        check_same_address=bool(address_columns),
        check_same_address_columns=address_columns,
        selection_algorithm="maximin",
    )
    people_head, people_body = table(people_path)
    people, _ = read_in_people(people_head, people_body, features, settings)
    started = time.monotonic()
    committees, probabilities, _ = find_distribution_maximin(features, people, panel_size, address_columns)
    seconds = time.monotonic() - started
    chance = {person: 0.0 for person in people}
    for committee, probability in zip(committees, probabilities):
        for person in committee:
            chance[person] += probability
    for committee in committees:
        if address_columns:
            addresses = [people.get_address(p, address_columns) for p in committee]
            assert len(set(addresses)) == len(addresses), "the reference seated two of one household"
    print(json.dumps({"min_probability": min(chance.values()), "seconds": seconds, "people": len(chance)}))


main()
