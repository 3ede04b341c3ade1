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
