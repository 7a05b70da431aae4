"""The report as one self-contained HTML page: inline CSS, no script, no font or file from elsewhere,
so it opens from disk, offline, on a desktop or a phone. Every string from the lake, the ledger or
the settings is escaped on its way in (`_e`).

Status is never told by colour alone: a complete month is solid, a partial one striped, a missing
one shows a cross, and every cell has a tooltip and a text for screen readers; each dataset also
has a sentence saying the same in words.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import date, datetime

from neo.report.coverage import DatasetCoverage, Failure, LakeReport, Month, Status, Year

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # fmt: skip
SHOWN_MISSING = 10  # listed in a dataset's sentence; the rest behind "show all"
LISTED_MISSING = 500  # at most this many behind it: the page stays small however large the gap
LISTED_FAILURES = 500  # failed requests listed per dataset and reason (`neo status` lists them all)

LEGEND = (
    (
        Status.COMPLETE,
        "complete",
        "every expected day, period or window is covered: in the lake, or its call returned no rows",
    ),
    (Status.PARTIAL, "partial", "some of the month's expected days, periods or windows are missing"),
    (Status.MISSING, "missing", "all of the month's expected days, periods or windows are missing"),
    (Status.NONE, "nothing expected", "no call falls in this month, or it is outside what is held"),
)

CSS = """
:root { color-scheme: light; --ink: #1c2430; --muted: #4a5565; --line: #c9d1db; --paper: #ffffff;
  --complete: #2166ac; --partial: #e08214; --partial-bg: #fde0c5; --missing: #b2182b;
  --missing-bg: #fbd5d0; --none: #f3f5f8; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "PingFang SC",
  "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Zen Hei", sans-serif; color: var(--ink);
  background: #eef1f5; }
header, main, footer { max-width: 64rem; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 1.75rem 0 .5rem; }
h3 { font-size: 1.1rem; margin: 0 0 .25rem; display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
a { color: #1d4f91; }
code { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: .9em; overflow-wrap: anywhere; }
.meta, .desc, footer { color: var(--muted); font-size: .875rem; }
.meta { margin: 0; overflow-wrap: anywhere; }
.empty { font-size: 1.1rem; background: var(--paper); border: 1px solid var(--line); padding: 1rem;
  border-radius: 6px; }
.legend { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; padding: 0; margin: .5rem 0 1rem;
  list-style: none; font-size: .875rem; }
.legend li { display: flex; gap: .4rem; align-items: center; }
.sw { display: inline-block; width: 1.4rem; height: 1.1rem; border-radius: 3px; flex: none;
  text-align: center; line-height: 1.1rem; font-size: .8rem; font-weight: bold; }
.complete { background: var(--complete); color: #fff; }
.partial { background: repeating-linear-gradient(135deg, var(--partial) 0 3px, var(--partial-bg) 3px 6px);
  color: var(--ink); }
.missing { background: var(--missing-bg); color: var(--missing); box-shadow: inset 0 0 0 1px var(--missing); }
.none { background: var(--none); box-shadow: inset 0 0 0 1px var(--line); }
.badge { font-size: .8rem; font-weight: 600; padding: .05rem .5rem; border-radius: 999px;
  white-space: nowrap; }
.badge.partial { background: var(--partial-bg); box-shadow: inset 0 0 0 1px var(--partial); }
.badge.none, .badge.unknown, .badge.not-downloaded { background: var(--none); color: var(--muted);
  box-shadow: inset 0 0 0 1px var(--line); }
.cards { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fill, minmax(min(100%, 28rem), 1fr)); }
.card { background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: 1rem;
  min-width: 0; }
.card p { margin: .35rem 0; }
table { border-collapse: collapse; }
.overview, .failures { width: 100%; background: var(--paper); font-size: .875rem;
  border: 1px solid var(--line); }
.overview th, .overview td, .failures th, .failures td { text-align: left; padding: .3rem .5rem;
  border-bottom: 1px solid var(--line); vertical-align: top; }
.overview td.n, .overview th.n { text-align: right; font-variant-numeric: tabular-nums; }
.failures { table-layout: fixed; }
.failures td { overflow-wrap: anywhere; }
.heat { border-collapse: separate; border-spacing: 2px; table-layout: fixed; width: 100%; max-width: 34rem;
  margin: .5rem 0; font-size: .8125rem; }
.heat th { font-weight: 600; color: var(--muted); padding: 0; }
.heat thead th { text-align: center; }
.heat .yr { width: 3.2em; text-align: left; }
.heat .rows { width: 6.5em; text-align: right; font-variant-numeric: tabular-nums; padding-left: .4em;
  color: var(--ink); white-space: nowrap; }
.heat td.c { height: 1.6rem; border-radius: 3px; text-align: center; font-weight: bold; }
.single { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .5rem 0; }
.single .sw { width: 2.4rem; height: 1.6rem; line-height: 1.6rem; }
.years { display: flex; flex-wrap: wrap; gap: .25rem 1rem; padding: 0; margin: .25rem 0; list-style: none;
  font-size: .875rem; font-variant-numeric: tabular-nums; }
details { margin: .35rem 0; font-size: .875rem; }
summary { cursor: pointer; }
.list { overflow-wrap: anywhere; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  white-space: nowrap; }
footer { padding-bottom: 2rem; }
@media (max-width: 600px) {
  header, main, footer { padding: 0 .5rem; }
  header { padding-top: 1rem; }
  .card { padding: .6rem; }
  .overview .wide { display: none; }
  .failures, .failures tbody, .failures tr, .failures td { display: block; width: auto; }
  .failures thead { display: none; }
  .failures tr { border-bottom: 1px solid var(--line); padding: .3rem 0; }
  .failures td { border: 0; padding: .1rem .5rem; }
  .failures td::before { content: attr(data-label) ": "; color: var(--muted); }
}
"""

GLYPH = {Status.MISSING: "×"}  # besides colour: complete is solid, partial striped, missing crossed


def render(report: LakeReport) -> str:
    root = str(report.root)
    title = f"neo lake report: {root}"
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>neo lake report</h1>",
        f'<p class="meta">Data root <code>{_e(root)}</code> · generated {_e(_when(report.generated))}'
        f" · {_e(_calendar(report))}</p>",
        "</header>",
        "<main>",
    ]
    if report.empty:
        parts.append(
            f'<p class="empty" id="nothing">Nothing is downloaded yet under <code>{_e(root)}</code>. '
            "Run <code>neo download</code> to fill the lake (or <code>neo demo</code> to try neo "
            "offline), then <code>neo report</code> again.</p>"
        )
    else:
        parts += _summary(report)
        parts += _overview(report)
        held = [d for d in report.datasets if d.status is not Status.NOT_DOWNLOADED]
        parts.append('<h2 id="datasets">Datasets</h2>')
        parts += ['<div class="cards">', *(_card(d) for d in held), "</div>"]
        absent = [d.name for d in report.datasets if d.status is Status.NOT_DOWNLOADED]
        if absent:
            parts.append(f"<p>Not downloaded: {_e(', '.join(absent))}.</p>")
    parts += _failures(report.failures)
    parts += [
        "</main>",
        "<footer><p>Coverage follows the same rules as <code>neo status</code>: what each dataset "
        "expects between the first and last thing the lake holds of it, against the trade calendar "
        "(open days, week and month ends), report periods, or each code's days and windows. A call "
        "that returned no rows counts as covered. Rows are counted as the views show them, one per "
        "key.</p></footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _summary(report: LakeReport) -> list[str]:
    rows = sum(d.rows for d in report.datasets)
    legend = "".join(
        f'<li><span class="sw {status.value}" aria-hidden="true">{GLYPH.get(status, "")}</span>'
        f"<span><b>{_e(name)}</b>: {_e(meaning)}</span></li>"
        for status, name, meaning in LEGEND
    )
    return [
        '<h2 id="summary">Summary</h2>',
        f'<p id="said">{_e(report.summary())}; {rows:,} rows in all.</p>',
        f'<ul class="legend" aria-label="legend">{legend}</ul>',
    ]


def _overview(report: LakeReport) -> list[str]:
    rows = [
        "<tr>"
        f'<th scope="row"><a href="#ds-{_e(d.name)}">{_e(d.name)}</a></th>'
        f"<td>{_badge(d.status)}</td>"
        f'<td class="n">{d.rows:,}</td>'
        f'<td class="wide">{_e(_range(d.first, d.last))}</td>'
        f'<td class="wide">{_e(_when(d.updated))}</td>'
        "</tr>"
        for d in report.datasets
        if d.status is not Status.NOT_DOWNLOADED
    ]
    return [
        '<table class="overview" aria-label="datasets at a glance">',
        '<thead><tr><th scope="col">dataset</th><th scope="col">coverage</th>'
        '<th scope="col" class="n">rows</th>'
        '<th scope="col" class="wide">from – to</th>'
        '<th scope="col" class="wide">rows downloaded</th></tr></thead>',
        "<tbody>",
        *rows,
        "</tbody></table>",
    ]


def _card(d: DatasetCoverage) -> str:
    parts = [
        f'<section class="card" id="ds-{_e(d.name)}" aria-labelledby="h-{_e(d.name)}">',
        f'<h3 id="h-{_e(d.name)}">{_e(d.name)} {_badge(d.status)}</h3>',
        f'<p class="desc">{_e(d.description)}</p>',
        f'<p class="said">{_e(sentence(d))}</p>',
    ]
    if d.by_month:
        parts.append(_heatmap(d))
    else:
        parts.append(_single(d))
    if len(d.missing) > SHOWN_MISSING:
        shown = d.missing[:LISTED_MISSING]
        more = len(d.missing) - len(shown)
        tail = f" … and {more:,} more" if more else ""
        parts.append(
            f"<details><summary>All {len(d.missing):,} missing {_e(d.units)}</summary>"
            f'<p class="list">{_e(", ".join(shown) + tail)}</p></details>'
        )
    if d.failures:
        reasons = Counter(f.reason for f in d.failures)
        said = "; ".join(f"{reason} ({n:,})" for reason, n in reasons.most_common())
        parts.append(
            f'<p class="failed"><a href="#failures">{len(d.failures):,} failed '
            f"request{'' if len(d.failures) == 1 else 's'}</a>: {_e(said)}</p>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def sentence(d: DatasetCoverage) -> str:
    """The dataset's coverage in words: what the heatmap shows, for anyone who cannot see it."""
    out = []
    if d.expected:
        span = f" from {d.first} to {d.last}" if d.first and d.last else ""
        out.append(f"{d.covered:,} of {d.expected:,} expected {d.units} covered{span}")
        if d.missing:
            listed = ", ".join(d.missing[:SHOWN_MISSING])
            more = f" and {len(d.missing) - SHOWN_MISSING:,} more" if len(d.missing) > SHOWN_MISSING else ""
            out.append(f"{len(d.missing):,} missing: {listed}{more}")
    elif d.status is Status.UNKNOWN:
        out.append("Gaps cannot be told: the lake has no trade calendar (download trade_cal)")
    elif d.status is Status.COMPLETE:
        out.append("Held whole" if d.units == "snapshots" else "Nothing known to be missing")
    out.append(f"{d.rows:,} rows in {d.files:,} file{'' if d.files == 1 else 's'}")
    if d.updated:
        out.append(f"newest rows downloaded {_when(d.updated)}")
    if d.last_call:
        out.append(f"last call finished {_when(d.last_call)}")
    return "; ".join(out) + "."


def _heatmap(d: DatasetCoverage) -> str:
    head = "".join(f'<th scope="col"><abbr title="{m}">{m[0]}</abbr></th>' for m in MONTHS)
    body = "".join(_year_row(d, y) for y in d.years)
    undated = ""
    if d.undated_rows:
        rows = f'<td class="rows">{d.undated_rows:,}</td>'
        undated = f'<tr><th scope="row" colspan="13">without a date</th>{rows}</tr>'
    return (
        f'<table class="heat" aria-label="{_e(d.name)}: coverage by month, rows by year">'
        f'<thead><tr><th scope="col" class="yr">year</th>{head}'
        '<th scope="col" class="rows">rows</th></tr></thead>'
        f"<tbody>{body}{undated}</tbody></table>"
    )


def _year_row(d: DatasetCoverage, y: Year) -> str:
    cells = "".join(_month_cell(d, m) for m in y.months)
    return f'<tr><th scope="row" class="yr">{y.year}</th>{cells}<td class="rows">{y.rows:,}</td></tr>'


def _month_cell(d: DatasetCoverage, m: Month) -> str:
    when = f"{MONTHS[m.month - 1]} {m.year}"
    if m.status is Status.NONE:
        tip = f"{when}: no {d.units} expected"
    else:
        tip = f"{when}: {m.status}, {m.covered} of {m.expected} {d.units} covered"
        if m.missing:
            listed = ", ".join(m.missing[:8]) + (
                f" and {len(m.missing) - 8} more" if len(m.missing) > 8 else ""
            )
            tip += f"; missing {listed}"
    glyph = GLYPH.get(m.status, "")
    return (
        f'<td class="c {m.status.value}" title="{_e(tip)}">'
        f'<span aria-hidden="true">{glyph}</span><span class="sr">{_e(m.status)}</span></td>'
    )


def _single(d: DatasetCoverage) -> str:
    """One cell for a dataset whose coverage has no dates (a snapshot, per-stock histories), and
    its rows per year when it has a date column."""
    swatch = _SWATCH.get(d.status, "none")
    out = [
        '<div class="single">',
        f'<span class="sw {swatch}" title="{_e(d.name)}: {_e(d.status)}" aria-hidden="true">'
        f"{GLYPH.get(d.status, '')}</span>",
        f"<span>{_e(d.status)}</span>",
        "</div>",
    ]
    if d.years:
        items = "".join(f"<li>{y.year}: {y.rows:,}</li>" for y in d.years if y.rows)
        if d.undated_rows:
            items += f"<li>without a date: {d.undated_rows:,}</li>"
        out.append(f'<ul class="years" aria-label="{_e(d.name)}: rows by year">{items}</ul>')
    return "\n".join(out)


_SWATCH = {Status.COMPLETE: "complete", Status.PARTIAL: "partial", Status.MISSING: "missing"}


def _failures(failures: list[Failure]) -> list[str]:
    """Failed requests grouped by dataset and reason: a refused API fails every call alike."""
    if not failures:
        return ['<h2 id="failures">Failed requests</h2>', "<p>None: no request has failed.</p>"]
    groups: dict[tuple[str, str], list[Failure]] = {}
    for f in failures:
        groups.setdefault((f.dataset, f.reason), []).append(f)
    rows = []
    for (dataset, reason), group in groups.items():
        shown = [f.request for f in group[:LISTED_FAILURES]]
        more = f" … and {len(group) - len(shown):,} more" if len(group) > len(shown) else ""
        requests = f"<code>{_e(shown[0])}</code>"
        if len(group) > 1:
            requests = (
                f"<details><summary>{len(group):,} requests</summary>"
                f'<p class="list"><code>{_e(" ".join(shown) + more)}</code></p></details>'
            )
        last = max((f.at for f in group if f.at is not None), default=None)
        rows.append(
            f'<tr><td data-label="dataset">{_e(dataset)}</td><td data-label="request">{requests}</td>'
            f'<td data-label="reason">{_e(reason)}</td>'
            f'<td data-label="last failed">{_e(_when(last))}</td></tr>'
        )
    n = len(failures)
    return [
        '<h2 id="failures">Failed requests</h2>',
        f"<p>{n:,} request{'' if n == 1 else 's'} failed; they wait for "
        "<code>neo download --retry-failed</code>.</p>",
        '<table class="failures"><colgroup><col style="width:18%"><col style="width:27%">'
        '<col style="width:37%"><col style="width:18%"></colgroup>'
        '<thead><tr><th scope="col">dataset</th><th scope="col">request</th><th scope="col">reason</th>'
        f'<th scope="col">last failed</th></tr></thead><tbody>{"".join(rows)}</tbody></table>',
    ]


def _badge(status: Status) -> str:
    return f'<span class="badge {status.value.replace(" ", "-")}">{_e(status)}</span>'


def _calendar(report: LakeReport) -> str:
    if report.calendar is None:
        return "no trade calendar in the lake"
    first, last = report.calendar
    return f"trade calendar {first} to {last}"


def _range(first: date | None, last: date | None) -> str:
    if first is None or last is None:
        return "–"
    return f"{first} – {last}"


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at is not None else "–"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
