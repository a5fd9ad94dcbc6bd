"""How matching splits a page into queries: each within both of Salesforce's limits, few."""

from __future__ import annotations

from gateway.connectors.salesforce import query_url
from gateway.sync import salesforce_match as match


def wanted(n: int, email: str) -> list:
    return [(str(i), f"9341452000000001-{i}", [("Email__c", email.format(i=i))]) for i in range(n)]


def queries(items: list) -> list[str]:
    fields = ["Email__c", "QBO_Id__c"]
    return [
        soql
        for chunk in match._chunks_by_size(items)
        for soql in match._fitting("Account", fields, "QBO_Id__c", chunk)
    ]


def test_a_page_of_1000_is_a_few_queries_each_within_both_limits():
    soqls = queries(wanted(1000, "customer.{i}@example.com"))
    assert 2 <= len(soqls) <= 5  # one /composite call
    for soql in soqls:
        assert len(soql) <= match.MAX_SOQL_CHARS
        assert len(query_url("/services/data/v59.0/", soql)) <= match.MAX_QUERY_URL
    every = " ".join(soqls)
    assert all(f"'9341452000000001-{i}'" in every for i in range(1000))
    assert all(f"'customer.{i}@example.com'" in every for i in range(1000))


def test_values_that_grow_when_encoded_are_split_to_fit():
    # quotes and non-ASCII grow 3 to 9 times in a URL: the estimate must still hold
    soqls = queries(wanted(400, "o'brien.{i}+é€@example.com"))
    assert len(soqls) > 1
    for soql in soqls:
        assert len(query_url("/services/data/v59.0/", soql)) <= match.MAX_QUERY_URL
