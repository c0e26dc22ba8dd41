"""The check list both peer scripts (interop.py, http_json.py) report through."""

import sys

failures = []
passed = 0


def check(name, condition, detail=""):
    global passed
    if condition:
        passed += 1
        print(f"ok   {name} {detail}")
    else:
        failures.append(name)
        print(f"FAIL {name} {detail}")


def finish(label):
    """Prints the summary line and exits 1 if any check failed."""
    print(f"{label}: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)
