"""Validation of the semantic layer: every bad declaration is reported with its file and item."""
from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import pytest

from lib.semantic import model as semantic


@pytest.fixture
def sem_dir(tmp_path) -> Path:
    """A copy of the real declarations, to add or change one file in."""
    for f in semantic.SEMANTIC_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path)
    return tmp_path


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")


def simple(mid: str, expr: str, dataset: str = "sales", extra: str = "") -> str:
    return (f"  - {{id: {mid}, label_zh: 测试, label_en: Test, description: 测试指标, owner: 财务部, "
            f"type: simple, dataset: {dataset}, expr: \"{expr}\"{extra}}}\n")


def issues_of(directory: Path) -> list[semantic.Issue]:
    with pytest.raises(semantic.SemanticError) as err:
        semantic.load(directory)
    return err.value.issues


def only_issue(directory: Path) -> semantic.Issue:
    issues = issues_of(directory)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


# -- the real declarations ------------------------------------------------------------------------

def test_the_real_declarations_load():
    model = semantic.load()
    assert len(model.metrics) >= 30
    assert {"revenue", "gross_margin", "dso", "budget_execution"} <= set(model.metrics)


def test_the_copied_declarations_load(sem_dir):
    assert set(semantic.load(sem_dir).metrics) == set(semantic.load().metrics)


def test_an_unknown_metric_suggests_the_close_one():
    model = semantic.load()
    with pytest.raises(semantic.UnknownName) as err:
        model.metric("gros_margin")
    assert "Did you mean: gross_margin" in str(err.value)
    with pytest.raises(semantic.UnknownName, match="region"):
        model.dimension("regon")


# -- one problem per kind -------------------------------------------------------------------------

def test_unknown_column_in_a_simple_expression(sem_dir):
    write(sem_dir, "extra.yaml", "metrics:\n" + simple("bad_col", "sum(price)"))
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("extra.yaml", "bad_col")
    assert "unknown column 'price'" in issue.message


def test_unknown_dimension_in_a_dataset(sem_dir):
    path = sem_dir / "datasets.yaml"
    text = path.read_text(encoding="utf-8")
    assert "      channel: channel\n" in text
    path.write_text(text.replace("      channel: channel\n", "      channel: channel\n      colour: p.brand\n", 1),
                    encoding="utf-8")
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("datasets.yaml", "sales.dimensions")
    assert "unknown dimension 'colour'" in issue.message


def test_unknown_column_of_a_dataset_dimension(sem_dir):
    path = sem_dir / "datasets.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      channel: channel\n", "      channel: p.colour\n", 1), encoding="utf-8")
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("datasets.yaml", "sales.dimensions.channel")
    assert "unknown column p.colour" in issue.message


def test_a_dataset_problem_names_the_file_that_declares_it(sem_dir):
    write(sem_dir, "extra.yaml", """
        datasets:
          sales_copy:
            label_zh: 销售副本
            label_en: Sales copy
            table: sales_line
            kind: flow
            time: order_date
            dimensions:
              colour: channel
        """)
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("extra.yaml", "sales_copy.dimensions")


def test_cycle_between_derived_metrics(sem_dir):
    write(sem_dir, "extra.yaml", """
        metrics:
          - {id: cyc_a, label_zh: 甲, label_en: A, description: 甲, owner: 财务部, type: derived, expr: cyc_b + revenue}
          - {id: cyc_b, label_zh: 乙, label_en: B, description: 乙, owner: 财务部, type: derived, expr: cyc_a * 2}
        """)
    issue = only_issue(sem_dir)
    assert issue.file == "extra.yaml" and issue.item in ("cyc_a", "cyc_b")
    assert "cycle" in issue.message and "cyc_a" in issue.message and "cyc_b" in issue.message


ACCOUNTS_DATASET = """
    datasets:
      accounts:
        label_zh: 科目表
        label_en: Accounts
        table: account
        kind: flow
        dimensions:
          account_type: type
    metrics:
      - {id: account_count, label_zh: 科目数, label_en: Accounts, description: 科目个数, owner: 财务部,
         type: simple, dataset: accounts, expr: count(code)}
      - {id: revenue_per_account, label_zh: 每科目收入, label_en: Revenue per account, description: 收入 ÷ 科目数,
         owner: 财务部, type: ratio, numerator: revenue, denominator: account_count}
    """


def test_ratio_of_metrics_with_no_shared_dimension(sem_dir):
    # Every valid dataset has a time axis, and time counts as shared: a dataset without one
    # (the `accounts` flow below) is itself an error, so the load reports both problems.
    write(sem_dir, "extra.yaml", ACCOUNTS_DATASET)
    issues = {(i.file, i.item): i.message for i in issues_of(sem_dir)}
    assert "no shared dimension" in issues[("extra.yaml", "revenue_per_account")]
    assert any(item == "accounts" and "time column" in msg for (_f, item), msg in issues.items())
    assert len(issues) == 2


def test_ratio_of_metrics_with_no_shared_dimension_alone():
    # The compatibility rule on its own: a model holding a time-less dataset, then the ratio added.
    model = semantic.load()
    accounts = semantic.Dataset(
        id="accounts", label_zh="科目表", label_en="Accounts", table="account", kind=semantic.DatasetKind.FLOW,
        time=None, org_column=None, joins=(), dimensions={"account_type": semantic.ColumnRef(None, "type")})
    model = dataclasses.replace(model, datasets={**model.datasets, "accounts": accounts})
    raw_count = {"id": "account_count", "label_zh": "科目数", "label_en": "Accounts", "description": "科目个数",
                 "owner": "财务部", "type": "simple", "dataset": "accounts", "expr": "count(code)"}
    raw_ratio = {"id": "revenue_per_account", "label_zh": "每科目收入", "label_en": "Revenue per account",
                 "description": "收入 ÷ 科目数", "owner": "财务部", "type": "ratio",
                 "numerator": "revenue", "denominator": "account_count"}
    issues: list = []
    model = model.with_metric(semantic.metric_from_dict(raw_count, "extra", "extra.yaml", issues))
    ratio = semantic.metric_from_dict(raw_ratio, "extra", "extra.yaml", issues)
    assert issues == []
    with pytest.raises(semantic.SemanticError) as err:
        model.with_metric(ratio)
    [issue] = err.value.issues
    assert (issue.file, issue.item) == ("extra.yaml", "revenue_per_account")
    assert "no shared dimension: sales, accounts" in issue.message


@pytest.mark.parametrize(("expr", "function"), [
    ("sum(net_revenue) + random()", "rand"),
    ("sum(exp(net_revenue))", "exp"),
    ("sum(my_udf(net_revenue))", "anonymous"),
])
def test_unknown_function(sem_dir, expr, function):
    write(sem_dir, "extra.yaml", "metrics:\n" + simple("bad_fn", expr))
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("extra.yaml", "bad_fn")
    assert f"function '{function}' is not allowed" in issue.message


def test_bad_format_value(sem_dir):
    write(sem_dir, "extra.yaml", "metrics:\n" + simple("bad_fmt", "sum(net_revenue)", extra=", format: money"))
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("extra.yaml", "bad_fmt")
    assert "format 'money'" in issue.message


def test_sql_injection_in_an_expression_is_rejected(sem_dir):
    write(sem_dir, "extra.yaml", "metrics:\n" + simple("bad_inj", "sum(net_revenue)); drop table sales_line; --"))
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("extra.yaml", "bad_inj")
    assert "not a single expression" in issue.message


def test_a_balance_without_time_agg_is_rejected(sem_dir):
    write(sem_dir, "extra.yaml", "metrics:\n" + simple("ar_sum", "sum(open_amount)", dataset="receivables"))
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("extra.yaml", "ar_sum")
    assert "time_agg" in issue.message


def test_time_agg_on_a_flow_is_rejected(sem_dir):
    write(sem_dir, "extra.yaml", "metrics:\n" + simple("rev_close", "sum(net_revenue)", extra=", time_agg: closing"))
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("extra.yaml", "rev_close")
    assert "time_agg applies to balances" in issue.message


def test_a_derived_metric_over_an_unknown_metric(sem_dir):
    write(sem_dir, "extra.yaml", """
        metrics:
          - {id: gp2, label_zh: 毛利2, label_en: GP2, description: 毛利, owner: 财务部, type: derived, expr: revenu - cogs}
        """)
    issue = only_issue(sem_dir)
    assert (issue.file, issue.item) == ("extra.yaml", "gp2")
    assert "unknown metric 'revenu'" in issue.message and "revenue" in issue.message


def test_several_problems_are_reported_together(sem_dir):
    write(sem_dir, "extra.yaml", "metrics:\n" + simple("bad_one", "sum(price)")
          + simple("bad_two", "avg(net_revenue) + exp(1)"))
    write(sem_dir, "more.yaml", "metrics:\n" + simple("bad_three", "sum(net_revenue)", extra=", format: money"))
    issues = issues_of(sem_dir)
    assert sorted((i.file, i.item) for i in issues) == [
        ("extra.yaml", "bad_one"), ("extra.yaml", "bad_two"), ("more.yaml", "bad_three")]
    assert len(str(pytest.raises(semantic.SemanticError, semantic.load, sem_dir).value).splitlines()) == 4
