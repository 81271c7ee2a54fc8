"""
docs/security.md is the record of every security advisory published for
each pinned distribution after its pinned release (pip-audit cannot reach
an advisory database from these machines). It is only a record while it
names the versions actually pinned: these tests fail when a `name==version`
pin in requirements.txt or requirements-dev.txt (environment-marker lines
included, `-r` includes followed) is not named, as `name==version`, in
docs/security.md, or when the document keeps a section for a pin that is
gone. Bumping a pin therefore means reading the new release's advisories
and updating the table in the same commit.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"
REQUIREMENT_FILES = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt"]

# name==version, then optionally "; marker" and/or "# comment" (PEP 508, as pip reads it).
PIN = re.compile(r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?:\[[^\]]*\])?\s*==\s*(?P<version>[^\s;#,]+)")
# Anywhere in the document: name==version (in a heading, a table row or a sentence).
NAMED = re.compile(r"(?<![A-Za-z0-9._-])(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*[A-Za-z0-9]|[A-Za-z0-9])")
# A distribution's own section: "### name==version".
SECTION = re.compile(r"^#{2,4}\s+`?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s`]+)`?\s*$", re.M)


def canonical(name):
    """PEP 503 name normalisation: Django, django and DJANGO are one project; so are asgi_redis and asgi-redis."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path, seen=None):
    """{(canonical name, version)} for every `==` pin in a requirements file and the files it
    includes; one distribution may be pinned twice under different environment markers."""
    seen = set() if seen is None else seen
    path = Path(path).resolve()
    if path in seen:
        return set()
    seen.add(path)
    found = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = re.match(r"^(?:-r|--requirement)\s*=?\s*(\S+)", line)
        if include:
            found |= pins(path.parent / include.group(1), seen)
            continue
        if line.startswith("-"):
            continue  # other pip options (--hash on its own line, -c, -e ...)
        match = PIN.match(line)
        if match is None:
            raise AssertionError("%s: %r is not pinned with ==; the advisory table needs exact versions" % (path.name, raw))
        found.add((canonical(match.group("name")), match.group("version")))
    return found


def all_pins(files=REQUIREMENT_FILES):
    found = set()
    for path in files:
        found |= pins(path)
    return found


def version_of(pinned, name):
    """The one version `name` is pinned at (the self-tests below pin each once)."""
    (version,) = {v for n, v in pinned if n == canonical(name)}
    return version


def named_in(text):
    """{(canonical name, version)} that the document names as name==version."""
    return {(canonical(m.group("name")), m.group("version")) for m in NAMED.finditer(text)}


def missing_from_doc(pinned, text):
    """Pins the document does not name, as 'name==version' strings."""
    named = named_in(text)
    return sorted("%s==%s" % pin for pin in pinned if pin not in named)


def stale_sections(pinned, text):
    """Sections ('### name==version') for a distribution or version no longer pinned."""
    return sorted("%s==%s" % (m.group("name"), m.group("version")) for m in SECTION.finditer(text)
                  if (canonical(m.group("name")), m.group("version")) not in pinned)


def test_every_pin_is_named_in_the_advisory_record():
    pinned = all_pins()
    assert pinned, "no pins found in %s" % [p.name for p in REQUIREMENT_FILES]
    missing = missing_from_doc(pinned, DOC.read_text(encoding="utf-8"))
    assert not missing, (
        "docs/security.md does not name these pins: %s. Read the advisories published for the new "
        "version (Django's docs/releases/security.txt, the project's changelog, the GitHub advisory "
        "pages), decide reachability for each, and add the distribution's section '### name==version'."
        % ", ".join(missing))


def test_every_pin_has_its_own_section():
    pinned = all_pins()
    text = DOC.read_text(encoding="utf-8")
    sections = {(canonical(m.group("name")), m.group("version")) for m in SECTION.finditer(text)}
    without = sorted("%s==%s" % pin for pin in pinned if pin not in sections)
    assert not without, "docs/security.md has no '### name==version' section for: %s" % ", ".join(without)


def test_no_section_for_a_version_no_longer_pinned():
    stale = stale_sections(all_pins(), DOC.read_text(encoding="utf-8"))
    assert not stale, "docs/security.md keeps sections for versions no longer pinned: %s" % ", ".join(stale)


# The checks themselves, on scratch copies: they must fail when a pin moves.

def newly_missing(pinned, text):
    """What a changed scratch copy leaves unnamed, beyond whatever the real files already do
    (so that these checks of the checks do not also fail for the record's own gaps)."""
    return sorted(set(missing_from_doc(pinned, text)) - set(missing_from_doc(all_pins(), text)))


@pytest.fixture
def scratch(tmp_path):
    for path in REQUIREMENT_FILES:
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_a_changed_pin_is_caught(scratch):
    requirements = scratch / "requirements.txt"
    lines = requirements.read_text(encoding="utf-8").splitlines()
    index, match = next((i, PIN.match(line)) for i, line in enumerate(lines) if PIN.match(line))
    bumped = match.group("version") + ".999"
    lines[index] = "%s==%s" % (match.group("name"), bumped)
    requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pinned = all_pins([requirements, scratch / "requirements-dev.txt"])
    doc = DOC.read_text(encoding="utf-8")
    assert newly_missing(pinned, doc) == ["%s==%s" % (canonical(match.group("name")), bumped)]
    stale_names = {canonical(entry.split("==")[0]) for entry in stale_sections(pinned, doc)}
    assert canonical(match.group("name")) in stale_names


def test_a_new_pin_with_an_environment_marker_is_caught(scratch):
    requirements = scratch / "requirements.txt"
    requirements.write_text(requirements.read_text(encoding="utf-8")
                            + '\nnot-a-real-dist==1.0 ; python_version >= "3.13"  # a marker line\n',
                            encoding="utf-8")
    pinned = all_pins([requirements, scratch / "requirements-dev.txt"])
    assert version_of(pinned, "not-a-real-dist") == "1.0"
    assert newly_missing(pinned, DOC.read_text(encoding="utf-8")) == ["not-a-real-dist==1.0"]


def test_one_distribution_pinned_twice_under_markers_needs_both_versions(scratch):
    requirements = scratch / "requirements.txt"
    requirements.write_text(requirements.read_text(encoding="utf-8")
                            + 'not-a-real-dist==1.0 ; python_version < "3.13"\n'
                            + 'not-a-real-dist==2.0 ; python_version >= "3.13"\n', encoding="utf-8")
    pinned = all_pins([requirements, scratch / "requirements-dev.txt"])
    doc = DOC.read_text(encoding="utf-8") + "\n### not-a-real-dist==1.0\n"
    assert newly_missing(pinned, doc) == ["not-a-real-dist==2.0"]


def test_a_dev_pin_reached_through_an_include_is_caught(scratch):
    dev = scratch / "requirements-dev.txt"
    text = dev.read_text(encoding="utf-8")
    version = re.search(r"^pytest==(\S+)", text, re.M).group(1)
    dev.write_text(text.replace("pytest==" + version, "pytest==%s.999" % version), encoding="utf-8")
    pinned = all_pins([dev])  # requirements.txt only through "-r requirements.txt"
    assert version_of(pinned, "django") == version_of(all_pins(), "django")
    assert newly_missing(pinned, DOC.read_text(encoding="utf-8")) == ["pytest==%s.999" % version]


def test_an_unpinned_requirement_is_refused(scratch):
    requirements = scratch / "requirements.txt"
    requirements.write_text(requirements.read_text(encoding="utf-8") + "\nsix>=1.16\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="not pinned with =="):
        all_pins([requirements])


def test_names_are_compared_as_pip_compares_them():
    assert canonical("asgi_redis") == canonical("asgi-redis") == canonical("Asgi.Redis")
    assert ("msgpack-python", "0.5.6") in named_in("### msgpack_python==0.5.6")
    # A longer name that ends in another's name is not that name.
    assert ("redis", "2.10.6") not in named_in("asgi_redis==2.10.6")
