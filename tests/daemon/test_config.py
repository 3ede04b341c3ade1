from growpilot.config import Settings, settings_from, to_client


def test_defaults_when_nothing_given():
    settings, problems = settings_from(None)
    assert settings == Settings() and problems == []


def test_camel_case_values_are_taken():
    settings, problems = settings_from({"maxTokens": 32, "device": "cpu", "contextShare": 0, "excludeDirs": ["gen"]})
    assert (settings.max_tokens, settings.device, settings.context_share, settings.exclude_dirs) == (32, "cpu", 0.0, ["gen"])
    assert problems == []


def test_bad_values_fall_back_each_with_one_problem():
    settings, problems = settings_from({"maxTokens": "many", "device": "tpu", "debounceMs": -5, "completionsEnabled": 1})
    assert settings.max_tokens == 64 and settings.device == "auto" and settings.debounce_ms == 75
    assert settings.completions_enabled is True
    assert len(problems) == 4 and any("maxTokens" in p for p in problems)


def test_section_wrapper_and_unknown_keys():
    settings, problems = settings_from({"growpilot": {"threads": 2, "noSuchThing": 1}})
    assert settings.threads == 2 and problems == []


def test_non_object_is_reported():
    settings, problems = settings_from([1, 2])  # type: ignore[arg-type]
    assert settings == Settings() and problems


def test_round_trip_to_client_keys():
    assert settings_from(to_client(Settings(max_tokens=9)))[0].max_tokens == 9


def test_protocol_doc_lists_every_setting_with_its_default():
    """docs/PROTOCOL.md is what clients build against (the extension's tests read it too)."""
    import json
    import re
    from dataclasses import fields
    from pathlib import Path

    from growpilot.config import camel

    text = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| `([^`]*)`", text, re.M))
    defaults = {camel(f.name): getattr(Settings(), f.name) for f in fields(Settings)}
    assert set(rows) == set(defaults)
    for key, literal in rows.items():
        if key not in ("modelPath", "embedderPath"):  # documented as "" with the meaning spelled out
            assert json.loads(literal) == defaults[key], key
