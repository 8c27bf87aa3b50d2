"""The `leadscore` command: thin wrappers that print, and translate errors to exit 2."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from leadscore.cli_console import err, out, progress_bars
from leadscore.errors import LeadscoreError, ModelError, UsageError, named

if TYPE_CHECKING:
    from leadscore.plan import ScoringPlan

# Typer >= 0.20 ships its own copy of click (typer._click) instead of depending on it.
try:
    from typer._click.exceptions import ClickException
except ImportError:  # an older Typer, on click itself
    from click.exceptions import ClickException  # type: ignore[no-redef]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    help="Score leads with a declarative model: fit, engagement, grades, MQLs and reasons.",
)

ENGINE_HELP = "duckdb (default), spark, or an Ibis connection URL (postgres://user@host/db)."
ModelArg = Annotated[Path, typer.Argument(help="The model file (YAML).", show_default=False)]
EncodingOpt = Annotated[
    str,
    typer.Option("--encoding", help="Encoding of .csv and .jsonl inputs, e.g. latin-1 or cp1252."),
]


# generate: 10 million leads are about 500 million events and tens of GB on disk.
MAX_GENERATED_LEADS = 10_000_000


def _version(value: bool) -> None:
    if value:
        from leadscore import __version__

        out.print(f"leadscore {__version__}", highlight=False)
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Score leads with a declarative model: fit, engagement, grades, MQLs and reasons."""
    if ctx.invoked_subcommand is None:
        commands = ", ".join(sorted(ctx.command.list_commands(ctx)))  # type: ignore[attr-defined]
        raise UsageError(f"missing command ({commands}); try 'leadscore --help'")


def _terminated(signum: int, frame: object) -> None:
    # As Ctrl-C: the running query stops and temporary outputs are removed on the way out.
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: user mistakes exit 2 with a one-line reason, never a stack trace."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        # Outside standalone mode, Typer returns the exit code of typer.Exit and of Ctrl-C
        # (130) instead of exiting: pass it on.
        code = app(standalone_mode=False)
        if code == 130:
            err.print("interrupted")
        if isinstance(code, int) and code:
            sys.exit(code)
    except ModelError as exc:
        for line in exc.lines():
            _error(line)
        sys.exit(2)
    except LeadscoreError as exc:
        _error(str(exc))
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)
    except ClickException as exc:  # usage mistakes: an unknown command, a missing option
        _error(_one_line(exc.format_message()) + _help_hint(exc))
        sys.exit(2)
    except OSError as exc:  # a file the system refuses: full disk, no permission
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        sys.exit(2)
    except Exception as exc:  # a bug of ours: say so in one line; the trace on request
        if os.environ.get("LEADSCORE_DEBUG"):
            raise
        _error(
            f"internal error ({type(exc).__name__}: {_one_line(str(exc))[:200]}); this is a "
            "bug in leadscore, please report it with the command you ran "
            "(LEADSCORE_DEBUG=1 shows where it happened)"
        )
        sys.exit(1)


def _error(message: str) -> None:
    _say(err, "error:", "red", message)


def _say(console: Console, label: str, style: str, message: str) -> None:
    """`label message` with the label styled, the message as it is (inputs as flags)."""
    text = Text.assemble((label, style), " ", flags(message))
    console.print(text, highlight=False, soft_wrap=True)


# Domain messages name the inputs by field (leadscore.errors.given); here they are flags.
_FLAGS = {"id_column": "--id"}


def flags(message: str) -> str:
    """A domain message in the command line's words: `id_column` is `--id`, and so on."""
    return named(message, lambda name: _FLAGS.get(name, "--" + name.replace("_", "-")))


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _help_hint(exc: ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return ""
    return f" (try '{ctx.command_path} --help')"


_progress = progress_bars


@app.command()
def validate(model: ModelArg) -> None:
    """Check a model file; print a summary, or every problem with its line."""
    from leadscore.model import load_model
    from leadscore.model.advice import model_warnings
    from leadscore.plan import build_plan

    m = load_model(model)
    plan = build_plan(m)
    _say(out, "valid:", "green", f"{m.model} version {m.version} ({model})")
    if m.description:
        out.print(f"  {m.description.strip()}", highlight=False)
    table = Table(show_header=True, box=None, pad_edge=False)
    table.add_column("part")
    table.add_column("details")
    for part, details in plan_summary(plan):
        table.add_row(part, details)
    if m.predictive is not None:
        table.add_row(
            "predictive",
            f"{m.predictive.file}: {len(m.predictive.features)} features, "
            f"top {m.predictive.factors} factors per lead",
        )
    if m.accounts:
        a = m.accounts
        agg = f"top_k_mean (k={a.k})" if a.aggregate == "top_k_mean" else a.aggregate
        table.add_row("accounts", f"by {a.key}, {agg}")
    out.print(table)
    for warning in model_warnings(m):
        _say(err, "warning:", "yellow", warning)


def plan_summary(plan: ScoringPlan) -> list[tuple[str, str]]:
    """What `validate` shows: the plan's terms as scoring reads them (defaults resolved)."""
    from leadscore.model.schema import LogisticCalibration

    def bound(x: float | None) -> str:
        return "" if x is None else f"{x:g}"

    def tally(values: list[str]) -> str:
        counts = {v: values.count(v) for v in dict.fromkeys(values)}
        return ", ".join(f"{v} ({n} rule{'s' * (n != 1)})" for v, n in counts.items())

    rows = [("fit rules", str(len(plan.fit)))]
    grades = ", ".join(f"{g} >= {low:g}" for g, low in plan.grades)
    rows.append(
        ("grades", f"{grades}, else {plan.fallback_grade}" if grades else "none (grade left empty)")
    )
    kinds = tally([t.category or "uncapped" for t in plan.events])
    rows.append(("engagement rules", f"{len(plan.events)}" + (f": {kinds}" if kinds else "")))
    rows.append(("inactivity rules", str(len(plan.inactivity))))
    caps = [f"{c.name} [{bound(c.low)}, {bound(c.high)}]" for c in plan.categories if c.capped]
    rows.append(("category caps", ", ".join(caps) or "none"))
    if plan.events:
        decay = tally(
            [
                "no decay" if t.half_life_days is None else f"half-life {t.half_life_days:g} days"
                for t in plan.events
            ]
        )
        window = tally(
            [
                "all history" if t.window_days is None else f"window {t.window_days:g} days"
                for t in plan.events
            ]
        )
        rows.append(("time", f"{decay}; {window}"))
    if plan.score_range:
        rows.append(("score range", f"[{plan.score_range[0]:g}, {plan.score_range[1]:g}]"))
    if plan.mql_score is None:
        rows.append(("MQL", "no threshold (never MQL)"))
    else:
        grade = ""
        if plan.mql_grades is not None:
            grade = " and grade " + " or ".join(g for g in plan.grade_names if g in plan.mql_grades)
        rows.append(("MQL", f"score >= {plan.mql_score:g}{grade}"))
    labels = ", ".join(
        f"{k} >= {v:g}" if v is not None else f"{k} otherwise" for k, v in plan.labels
    )
    rows.append(("labels", labels or "none"))
    cal = plan.calibration
    if cal is None:
        rows.append(("calibration", "none"))
    elif isinstance(cal, LogisticCalibration):
        rows.append(("calibration", f"logistic: slope {cal.slope:g}, intercept {cal.intercept:g}"))
    else:
        rows.append(("calibration", f"{len(cal.points)} points"))
    return rows


@app.command()
def score(
    model: ModelArg,
    leads: Annotated[Path, typer.Argument(help="Leads: .csv, .parquet or .jsonl.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Scores file: .csv or .parquet.")],
    events: Annotated[
        Path | None, typer.Option("--events", help="Events: .csv, .parquet or .jsonl.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Score as of this time (ISO 8601 or epoch seconds, UTC)."),
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help=ENGINE_HELP)] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master", help="Spark master URL (default local[2], or SPARK_REMOTE)."
        ),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="Id column of the leads (default: the model's id).")
    ] = None,
    accounts_out: Annotated[
        Path | None, typer.Option("--accounts-out", help="Also write account scores here.")
    ] = None,
    encoding: EncodingOpt = "utf-8",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Score leads (and their events) with a model; write one row per lead."""
    from leadscore.batch import score_to_file
    from leadscore.engines import get_engine
    from leadscore.engines.base import WRITABLE
    from leadscore.inputs import prepare
    from leadscore.model import load_model
    from leadscore.model.load import predictive_path
    from leadscore.outputs import check_outputs
    from leadscore.timeutil import format_epoch, parse_as_of

    m = load_model(model)
    as_of_epoch = parse_as_of(as_of)
    targets = [("-o", output, list(WRITABLE))]
    if accounts_out is not None:
        targets.append(("--accounts-out", accounts_out, list(WRITABLE)))
        if m.accounts is None:
            raise UsageError(
                f"--accounts-out: {model} has no accounts section (accounts: {{key: ...}})"
            )
    check_outputs(targets, inputs=[model, leads, events, predictive_path(model, m)])
    started = time.perf_counter()
    eng = get_engine(engine, spark_master=spark_master, encoding=encoding)
    try:
        inputs = prepare(
            eng,
            m,
            eng.open(leads),
            eng.open(events) if events is not None else None,
            leads_name=str(leads),
            events_name=str(events) if events is not None else None,
            id_column=id_column,
        )
        with _progress(not quiet) as progress:
            run = score_to_file(
                eng,
                m,
                inputs,
                output,
                as_of=as_of_epoch,
                accounts_out=accounts_out,
                progress=progress,
                predictive_file=predictive_path(model, m),
            )
    finally:
        eng.close()
    for warning in run.warnings:
        _say(err, "warning:", "yellow", warning)
    elapsed = time.perf_counter() - started
    err.print(
        f"scored {_count(run.leads, 'lead')} as of {format_epoch(as_of_epoch)} -> {output} "
        f"in {elapsed:.1f}s",
        highlight=False,
    )


@app.command("compile")
def compile_(
    model: ModelArg,
    engine: Annotated[
        str, typer.Option("--engine", help="duckdb (default), spark, postgres, or a URL.")
    ] = "duckdb",
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Fix the scoring time; by default the SQL uses now()."),
    ] = None,
) -> None:
    """Print the SQL the engine runs for a model (input views: leads, events)."""
    from leadscore.compile.sql import model_sql, sql_dialect
    from leadscore.model import load_model
    from leadscore.timeutil import parse_as_of

    m = load_model(model)
    as_of_epoch = parse_as_of(as_of) if as_of is not None else None
    sql = model_sql(m, dialect=sql_dialect(engine), as_of=as_of_epoch)
    sys.stdout.write(sql + "\n")  # plain: Rich takes seconds to lay out a long query


@app.command()
def learn(
    leads: Annotated[
        Path, typer.Argument(help="Past leads with their outcome: .csv, .parquet, .jsonl.")
    ],
    target: Annotated[str, typer.Option("--target", help="The outcome column (converted or not).")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The model file to write (.yaml).")
    ],
    id_column: Annotated[
        str | None, typer.Option("--id", help="Id column of the leads (default lead_id).")
    ] = None,
    events: Annotated[
        Path | None, typer.Option("--events", help="Their events, to learn engagement points.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="A column not to learn from (repeat).")
    ] = None,
    positive: Annotated[
        str | None, typer.Option("--positive", help="The target value that means converted.")
    ] = None,
    missing: Annotated[
        list[str] | None,
        typer.Option("--missing", help="A value that means missing, such as 999 (repeat)."),
    ] = None,
    mql_recall: Annotated[
        float | None,
        typer.Option(
            "--mql-recall",
            help="MQL threshold capturing this share of conversions (default 0.8).",
        ),
    ] = None,
    mql_capacity: Annotated[
        float | None,
        typer.Option(
            "--mql-capacity",
            help="MQL threshold passing this share of leads (sales capacity), e.g. 0.2.",
        ),
    ] = None,
    predictive: Annotated[
        bool, typer.Option("--predictive", help="Also train a LightGBM model, saved beside it.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Count events up to this time (default: the latest)."),
    ] = None,
    encoding: EncodingOpt = "utf-8",
) -> None:
    """Learn a scorecard model (points, grades, MQL threshold, calibration) from outcomes."""
    # Options first, before the learning libraries take seconds to import.
    if mql_recall is not None and mql_capacity is not None:
        raise UsageError("give --mql-recall or --mql-capacity, not both")
    _check_share("--mql-recall", mql_recall, 0.01, "of conversions", "0.8 for 80% of them")
    _check_share("--mql-capacity", mql_capacity, 0.001, "of leads", "0.2 for the top 20%")
    from leadscore.learn import Objective
    from leadscore.learn import learn as run_learn
    from leadscore.learn.data import load_dataset
    from leadscore.learn.report import output_paths, print_summary, write_outputs
    from leadscore.outputs import check_outputs
    from leadscore.timeutil import parse_as_of

    analysis, booster = output_paths(output)
    check_outputs(
        [("-o", output, [".yaml", ".yml"]), (f"-o {output} writes", analysis, [])]
        + ([(f"-o {output} --predictive writes", booster, [])] if predictive else []),
        inputs=[leads, events],
    )
    objective = (
        Objective("capacity", mql_capacity)
        if mql_capacity is not None
        else Objective("recall", mql_recall if mql_recall is not None else 0.8)
    )
    as_of_epoch = parse_as_of(as_of) if as_of is not None else None
    started = time.perf_counter()
    with err.status("reading the leads") as status:
        data = load_dataset(
            leads,
            target=target,
            id_column=id_column,
            events=events,
            exclude=exclude or [],
            positive=positive,
            missing=missing or [],
            as_of=as_of_epoch,
            encoding=encoding,
        )
        learned = run_learn(data, objective, predictive=predictive, step=status.update)
        status.update("writing the model")
        written = write_outputs(learned, output, source=leads.name)
    print_summary(out, learned)
    for note in data.notes:
        _say(err, "note:", "yellow", note)
    elapsed = time.perf_counter() - started
    err.print(
        f"learned from {data.n:,} leads in {elapsed:.1f}s -> " + ", ".join(map(str, written)),
        highlight=False,
    )


def _check_share(option: str, value: float | None, low: float, of: str, example: str) -> None:
    if value is not None and not low <= value <= 1:
        raise UsageError(
            f"{option} {value:g}: expected a share {of} between {low:g} and 1, such as {example}"
        )


@app.command()
def review(
    model: Annotated[
        Path,
        typer.Argument(
            help="The model file (YAML); with --db, a model's name (NAME or NAME:VERSION).",
            show_default=False,
        ),
    ],
    leads: Annotated[
        Path | None,
        typer.Argument(
            help="Leads with their outcome: .csv, .parquet or .jsonl (not with --db).",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="The outcome column (converted or not).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The report to write (.html, self-contained)."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Review on the service's own leads, verdicts and outcomes (its database URL).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="With --db: outcomes and MQLs from this time on."),
    ] = None,
    metrics: Annotated[
        Path | None, typer.Option("--json", help="Also write every number as JSON here.")
    ] = None,
    events: Annotated[
        Path | None, typer.Option("--events", help="Their events: .csv, .parquet or .jsonl.")
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option("--compare", help="A challenger model, scored on the same leads."),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Leads of an earlier period, to measure drift (PSI)."),
    ] = None,
    reference_events: Annotated[
        Path | None,
        typer.Option(
            "--reference-events", help="Events of the reference leads (default --events)."
        ),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option("--outcomes", help="Outcomes in their own file (id and target columns)."),
    ] = None,
    absent_not_converted: Annotated[
        bool,
        typer.Option(
            "--absent-not-converted",
            help="Leads that --outcomes does not list did not convert (a file of won deals).",
        ),
    ] = False,
    positive: Annotated[
        str | None, typer.Option("--positive", help="The target value that means converted.")
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="Id column of the leads (default: the model's id).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Score as of this time (default: the latest event)."),
    ] = None,
    encoding: EncodingOpt = "utf-8",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Measure a model on real outcomes; compare it with a challenger; write an HTML report.

    With --db, the model is one the service runs (the active version, or NAME:VERSION),
    reviewed on the service's leads and outcomes, with the sales team's verdicts on its
    MQLs; --compare names another version of it."""
    if output is None:
        raise UsageError("-o REPORT.html: where to write the report")
    if db is not None:
        _review_db(str(model), db, output, metrics, since, compare, as_of, absent_not_converted,
                   leads=leads, target=target, quiet=quiet,
                   file_only=[("--events", events), ("--reference", reference),
                              ("--reference-events", reference_events), ("--outcomes", outcomes),
                              ("--positive", positive), ("--id", id_column)])  # fmt: skip
        return
    if leads is None or target is None:
        missing = "LEADS" if leads is None else "--target COLUMN"
        raise UsageError(f"{missing}: a review reads leads with their outcome (or give --db URL)")
    if since is not None:
        raise UsageError("--since goes with --db (the service's outcomes)")
    from leadscore.outputs import check_outputs
    from leadscore.review import ReviewFiles
    from leadscore.review import review as run_review
    from leadscore.review.report import write_review
    from leadscore.timeutil import parse_as_of

    check_outputs(
        [("-o", output, [".html"])] + ([("--json", metrics, [".json"])] if metrics else []),
        inputs=[model, leads, events, compare, reference, reference_events, outcomes],
    )
    as_of_epoch = parse_as_of(as_of) if as_of is not None else None
    started = time.perf_counter()
    request = ReviewFiles(
        model=model,
        leads=leads,
        target=target,
        events=events,
        outcomes=outcomes,
        positive=positive,
        id_column=id_column,
        as_of=as_of_epoch,
        compare=compare,
        reference=reference,
        reference_events=reference_events,
        encoding=encoding,
        absent_not_converted=absent_not_converted,
    )
    with _progress(not quiet) as progress:
        result = run_review(request, progress=progress)
    result["warnings"] = [flags(w) for w in result["warnings"]]
    if result["comparison"] is not None:
        challenger = result["comparison"]["challenger"]
        challenger["warnings"] = [flags(w) for w in challenger["warnings"]]
    with err.status("writing the report"):
        write_review(result, output, metrics)
    for warning in result["warnings"]:
        _say(err, "warning:", "yellow", warning)
    _print_review(result)
    elapsed = time.perf_counter() - started
    written = ", ".join(str(p) for p in (output, metrics) if p is not None)
    err.print(f"reviewed in {elapsed:.1f}s -> {written}", highlight=False)


def _review_db(
    model: str,
    db: str,
    output: Path,
    metrics: Path | None,
    since: str | None,
    compare: Path | None,
    as_of: str | None,
    absent_not_converted: bool,
    *,
    leads: Path | None,
    target: str | None,
    quiet: bool,
    file_only: list[tuple[str, object]],
) -> None:
    from leadscore.outputs import check_outputs
    from leadscore.review.report import write_review
    from leadscore.service.review_db import ServiceReview, review_service
    from leadscore.service.store.database import Database
    from leadscore.timeutil import parse_as_of

    extra = [flag for flag, value in file_only if value is not None]
    if leads is not None or target is not None:
        extra.insert(0, "LEADS" if leads is not None else "--target")
    if extra:
        raise UsageError(f"{', '.join(extra)}: not with --db (the service holds the leads)")
    check_outputs(
        [("-o", output, [".html"])] + ([("--json", metrics, [".json"])] if metrics else []),
        inputs=[],
    )
    request = ServiceReview(
        model=model,
        since=parse_as_of(since, "--since") if since is not None else None,
        compare=str(compare) if compare is not None else None,
        as_of=parse_as_of(as_of) if as_of is not None else None,
        absent_not_converted=absent_not_converted,
    )
    started = time.perf_counter()
    database = Database(db)
    try:
        database.check_service()
        with _progress(not quiet) as progress:
            result = review_service(database, request, progress=progress)
    finally:
        database.dispose()
    result["warnings"] = [flags(w) for w in result["warnings"]]
    with err.status("writing the report"):
        write_review(result, output, metrics)
    for warning in result["warnings"]:
        _say(err, "warning:", "yellow", warning)
    _print_review(result)
    s = result["sales"]
    rate = "n/a" if s["acceptance_rate"] is None else f"{s['acceptance_rate']:.1%}"
    out.print(
        f"sales: {s['mqls']:,} MQLs, {s['accepted']:,} accepted, {s['rejected']:,} rejected "
        f"(acceptance {rate}); {s['accepted_won']:,} accepted and won, "
        f"{len(s['accepted_lost']):,} accepted but lost",
        highlight=False,
    )
    bar = s["recommended_threshold"]
    if bar is not None:
        out.print(
            f"recommended MQL threshold {bar['score']:.1f}: keeps {bar['keeps_won']} of "
            f"{bar['of_won']} accepted-and-won MQLs, {bar['mqls_cut']} fewer MQLs",
            highlight=False,
        )
    elapsed = time.perf_counter() - started
    written = ", ".join(str(p) for p in (output, metrics) if p is not None)
    err.print(f"reviewed in {elapsed:.1f}s -> {written}", highlight=False)


def _print_review(r: dict) -> None:
    """The headline numbers, for the terminal."""
    p = r["performance"]
    out.print(
        f"{r['model']['name']} v{r['model']['version']} on {p['leads']:,} leads "
        f"({p['converted']:,} converted, {p['conversion_rate']:.1%}): "
        f"ROC AUC {p['score']['roc_auc']:.3f}, PR AUC {p['score']['pr_auc']:.3f}, "
        f"KS {p['score']['ks']:.3f}, top decile lift {p['gain']['deciles'][0]['lift']:.2f}",
        highlight=False,
    )
    mql = p["mql"]["model"]
    if mql is not None:
        precision = "n/a" if mql["precision"] is None else f"{mql['precision']:.1%}"
        out.print(
            f"MQL at {mql['threshold']:g}: {mql['volume']:,} leads ({mql['share']:.1%}), "
            f"precision {precision}, recall {mql['recall']:.1%}",
            highlight=False,
        )
    if p["calibration"] is not None:
        out.print(f"Brier score {p['calibration']['brier']:.4f}", highlight=False)
    revisit = r["rules"]["to_revisit"]
    if revisit:
        out.print(f"rules to revisit: {', '.join(revisit)}", highlight=False)
    if r["drift"] is not None:
        d = r["drift"]
        moved = [a["attribute"] for a in d["attributes"] if a["level"] != "stable"]
        out.print(
            f"drift: score PSI {d['score']['psi']:.3f} ({d['score']['level']})"
            + (f"; attributes that moved: {', '.join(moved)}" if moved else ""),
            highlight=False,
        )
    if r["comparison"] is not None:
        out.print(f"verdict: {r['comparison']['verdict']}", highlight=False)


@app.command()
def generate(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the two files.")],
    n_leads: Annotated[int, typer.Option("--leads", min=1, help="How many leads.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 0,
    events_per_lead: Annotated[
        float, typer.Option("--events-per-lead", min=0, help="Average events per lead.")
    ] = 50.0,
    end: Annotated[
        str, typer.Option("--end", help="Time of the last event (UTC); score as of it.")
    ] = "2026-11-01T00:00:00Z",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Write leads.parquet and events.parquet: synthetic B2B data with a known outcome."""
    from leadscore.generate import OUTPUT_FILES
    from leadscore.generate import generate as run
    from leadscore.outputs import check_folder_output, record_folder_output
    from leadscore.timeutil import parse_as_of

    end_epoch = parse_as_of(end, "--end")
    if n_leads > MAX_GENERATED_LEADS:
        raise UsageError(
            f"--leads {n_leads:,}: at most {MAX_GENERATED_LEADS:,} (about "
            f"{MAX_GENERATED_LEADS * 50 // 1_000_000:,} million events)"
        )
    check_folder_output("-o", output, OUTPUT_FILES)
    with Progress(
        TextColumn("generating"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
    ) as bar:
        task = bar.add_task("leads", total=n_leads)
        result = run(
            output,
            n_leads,
            seed=seed,
            events_per_lead=events_per_lead,
            end=end_epoch,
            progress=lambda n: bar.advance(task, n),
        )
    record_folder_output(output, OUTPUT_FILES)
    err.print(
        f"wrote {result.leads:,} leads ({result.converted / max(result.leads, 1):.1%} converted) "
        f"and {result.events:,} events to {output}",
        highlight=False,
    )


@app.command()
def demo(
    no_serve: Annotated[
        bool,
        typer.Option("--no-serve", help="Score and print in the terminal; start no service."),
    ] = False,
    folder: Annotated[Path, typer.Option("--dir", help="Where the demo writes its files.")] = Path(
        "demo-output"
    ),
    n_leads: Annotated[int, typer.Option("--leads", min=10, help="How many leads.")] = 5_000,
    host: Annotated[str, typer.Option("--host", help="The service's address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Its port.")] = 8000,
) -> None:
    """Generate a small data set and score it with the example model: served in the
    dashboard (the default), or printed in the terminal with --no-serve."""
    if not no_serve:
        from leadscore.cli_service import serve_demo

        serve_demo(folder, n_leads, host, port)
        return
    from leadscore.batch import score_to_file
    from leadscore.engines import DuckDBEngine
    from leadscore.generate import DEFAULT_END, OUTPUT_FILES, generate
    from leadscore.inputs import prepare
    from leadscore.model import load_model
    from leadscore.outputs import check_folder_output, record_folder_output
    from leadscore.timeutil import to_epoch

    written = [*OUTPUT_FILES, "b2b-saas.yaml", "scores.csv", "accounts.csv"]
    check_folder_output("--dir", folder, written)
    # The model goes beside the data, so that the commands printed below work from anywhere.
    folder.mkdir(parents=True, exist_ok=True)
    record_folder_output(folder, written)  # first: a run cut short leaves only ours
    model_file = folder / "b2b-saas.yaml"
    packaged = resources.files("leadscore") / "examples" / "b2b-saas.yaml"
    model_file.write_text(packaged.read_text(encoding="utf-8"), encoding="utf-8")
    m = load_model(model_file)
    err.print(f"generating {n_leads:,} leads with their events into {folder}/ ...")
    generated = generate(folder, n_leads, seed=7)
    engine = DuckDBEngine()
    inputs = prepare(
        engine,
        m,
        engine.open(folder / "leads.parquet"),
        engine.open(folder / "events.parquet"),
        leads_name="leads.parquet",
        events_name="events.parquet",
    )
    scores_file = folder / "scores.csv"
    run = score_to_file(
        engine,
        m,
        inputs,
        scores_file,
        as_of=to_epoch(DEFAULT_END),
        accounts_out=folder / "accounts.csv",
    )
    top = engine.con.read_csv(scores_file).limit(15).to_pyarrow().to_pylist()
    table = Table(title=f"Top 15 of {run.leads:,} leads, model {m.model} v{m.version}")
    for column in ("lead", "score", "grade", "label", "MQL", "top reasons"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for row in top:
        reasons = json.loads(row["reasons"])[:3]
        table.add_row(
            str(row["lead_id"]),
            f"{row['score']:.1f}",
            row["grade"] or "",
            row["label"] or "",
            "yes" if row["mql"] else "",
            "; ".join(f"{r['rule']} {r['points']:+.1f}" for r in reasons),
        )
    out.print(table)
    mqls = engine.con.read_csv(scores_file).filter(lambda t: t.mql).count().execute()
    out.print(
        f"{mqls:,} MQLs among {run.leads:,} leads ({generated.events:,} events). "
        f"Scores: {scores_file}  accounts: {folder / 'accounts.csv'}",
        highlight=False,
    )
    out.print(
        f"Score your own data: leadscore score {model_file} LEADS.csv "
        "--events EVENTS.csv -o scores.csv",
        highlight=False,
    )
    out.print(
        f"Review the model on these leads' outcomes: leadscore review {model_file} "
        f"{folder}/leads.parquet --events {folder}/events.parquet --target converted "
        f"-o {folder}/review.html",
        highlight=False,
    )


# The service's commands (serve, keys, import) live in their own module.
from leadscore import cli_service  # noqa: E402

app.command()(cli_service.serve)
app.command("import")(cli_service.import_)
app.add_typer(cli_service.keys_app, name="keys")
