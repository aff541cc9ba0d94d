"""JUnit XML: a testsuite per source, a testcase per check, read by CI test reporters."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from . import failures, fmt, method_title


def render(run, **_) -> str:
    suites = ET.Element("testsuites", name="gradcheck", tests=str(len(run.checks)),
                        failures=str(sum(1 for c in run.checks if not c.ok)),
                        time=f"{run.seconds:.3f}")
    by_source = defaultdict(list)
    for check in run.checks:
        by_source[check.source].append(check)
    for source, checks in by_source.items():
        suite = ET.SubElement(suites, "testsuite", name=source, tests=str(len(checks)),
                              failures=str(sum(1 for c in checks if not c.ok)),
                              errors="0", skipped=str(sum(1 for c in checks if c.status
                                                          in ("xfail", "skipped"))),
                              time=f"{sum(sum(c.timings.values()) for c in checks):.3f}")
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=source, name=check.name,
                                 time=f"{sum(check.timings.values()):.3f}")
            lines = [f"{row.label} [{method_title(v.method)}]: {v.reason} at "
                     f"{check.where(v)}: got {fmt(v.value, 10)}, reference "
                     f"{fmt(v.reference, 10)}" for row, v in failures(check)]
            if check.status == "fail" or check.status == "xpass":
                message = lines[0] if lines else "passed but was marked xfail"
                failure = ET.SubElement(case, "failure", message=message,
                                        type="GradientMismatch")
                failure.text = "\n".join(lines + check.notes)
            elif check.status == "xfail":
                ET.SubElement(case, "skipped", message=f"expected failure: {check.xfail}")
            elif check.status == "skipped":
                ET.SubElement(case, "skipped", message=check.skip_reason)
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(check.notes)
            if check.status == "fail":  # and a testcase per failing row, to see each at a glance
                for row in check.rows:
                    bad = [v for v in row.verdicts.values() if v.status == "fail"]
                    if not bad:
                        continue
                    sub = ET.SubElement(suite, "testcase", classname=source,
                                        name=f"{check.name} · {row.label}", time="0")
                    text = [f"{method_title(v.method)}: {v.reason} at {check.where(v)}"
                            for v in bad]
                    ET.SubElement(sub, "failure", message=text[0],
                                  type="GradientMismatch").text = "\n".join(text)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
