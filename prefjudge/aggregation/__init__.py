"""From votes to outcomes: vote coding, the aggregation rules (one majority), the Jury, agreement between judges. Pure: a judgments table in, one outcome per pair out."""
