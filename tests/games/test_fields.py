"""Checked config fields (games/fields.py) and the game's `Config` and `Rules` that use them."""
import dataclasses
from typing import Optional

import pytest

import games
from games.fields import FieldError, field, validate


@dataclasses.dataclass(frozen=True)
class Example:
    count: int = field(1, ge=1)
    share: float = field(0.5, ge=0, le=1)
    limit: Optional[int] = field(None, ge=0)
    mode: str = field("a", choices=("a", "b"))
    flag: bool = False
    scale: float = field(1.0, gt=0)

    def __post_init__(self):
        validate(self)


def test_values_of_the_fields_types_and_ranges_are_kept_as_those_types():
    example = Example(count=3.0, share=1, limit=None, mode="b", flag=True, scale=2)
    assert (example.count, example.share, example.limit, example.scale) == (3, 1.0, None, 2.0)
    assert type(example.count) is int and type(example.share) is float and type(example.scale) is float
    assert Example(limit=0).limit == 0


@pytest.mark.parametrize("changes, error", [
    ({"count": 0}, "count must be an int >= 1, not 0"),
    ({"count": True}, "count must be an int >= 1, not True"),
    ({"count": 2.5}, "count must be an int >= 1, not 2.5"),
    ({"count": "2"}, "count must be an int >= 1, not '2'"),
    ({"share": 1.01}, "share must be a number in [0, 1], not 1.01"),
    ({"share": float("nan")}, "share must be a number in [0, 1], not nan"),
    ({"limit": -1}, "limit must be an int >= 0 or None, not -1"),
    ({"mode": "c"}, "mode must be one of 'a', 'b', not 'c'"),
    ({"mode": ["a"]}, "mode must be one of 'a', 'b', not ['a']"),
    ({"flag": 0}, "flag must be true or false, not 0"),
    ({"scale": 0}, "scale must be a number > 0, not 0"),
])
def test_a_value_outside_its_type_or_range_is_a_field_error_naming_it(changes, error):
    with pytest.raises(FieldError) as raised:
        Example(**changes)
    assert str(raised.value) == error and raised.value.path == next(iter(changes))
    assert str(raised.value.within("outer")) == f"outer.{error}"


@pytest.mark.parametrize("overrides, error", [
    ({"max_length": 0}, "max_length must be an int >= 1, not 0"),
    ({"max_length": "24"}, "max_length must be an int >= 1, not '24'"),
    ({"correctness_weight": -2}, "correctness_weight must be a number >= 0, not -2"),
    ({"correct_bonus": "1"}, "correct_bonus must be a number >= 0, not '1'"),
    ({"latency_scale": -1.0}, "latency_scale must be a number >= 0, not -1.0"),
    ({"latency": "seconds"}, "latency must be one of 'length', 'executed', 'cycles', not 'seconds'"),
    ({"rules": {"end_lost": "no"}}, "rules.end_lost must be true or false, not 'no'"),
    ({"rules": ["end_lost"]}, "rules must be an object of Rules fields, not ['end_lost']"),
    ({"shaping": {"registers": True}}, "shaping must map potential names to weights"),
])
def test_a_bad_game_config_is_a_field_error_naming_the_field(overrides, error):
    with pytest.raises(FieldError) as raised:
        games.make("sort3", **overrides)
    assert str(raised.value).startswith(error)
    with pytest.raises(FieldError):
        games.Config(**overrides)

