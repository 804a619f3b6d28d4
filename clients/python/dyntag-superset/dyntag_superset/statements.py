"""Which statements change something, for Superset's "Allow DML" switch.

Superset decides with sqlglot, which does not know dyntag's own statements: `DROP TAG GROUP`
or `CREATE USER` parse as opaque commands and would pass as read-only. The words below follow
dyntag's statement classes (catalog/src/statements/policy.rs): reads (`SELECT`, `SHOW`,
`PREVIEW TAG`, `SUGGEST PROMPTS`, `EXPLAIN`, `DESCRIBE`) and session settings (`USE`,
`SET <setting> = …`) change nothing stored; tag edits, admin statements, file access and
table definitions do.
"""

import re

# Statements that change what the server stores (or would, over the command line).
_MUTATING = re.compile(
    r"""^\s*(
        (CREATE|ALTER|DROP)\b               # tag groups, tags, users, tokens, tables
      | (PUBLISH|APPLY|REMOVE|LABEL|EVALUATE|GRANT|REVOKE)\b
      | UPDATE\s+TAG\s+GROUP\b
      | (INSERT|UPDATE|DELETE|MERGE|TRUNCATE|COPY|REPLACE)\b
      | SAVE\s+THRESHOLD\b
      | SET\s+(TARGET|SESSION\s+AUTHORIZATION)\b
      | RESET\s+SESSION\s+AUTHORIZATION\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)

_COMMENT = re.compile(r"(--[^\n]*\n?|/\*.*?\*/)", re.DOTALL)


def is_mutating_statement(sql: str) -> bool:
    """Whether `sql` (one statement) changes something stored."""
    return bool(_MUTATING.match(_COMMENT.sub(" ", sql)))


# dyntag's own statements (catalog/src/statements/grammar.rs): SQL parsers that do not know
# them (Superset's sqlglot) must take them as opaque commands.
_OURS = re.compile(
    r"""^\s*(
        (CREATE|ALTER|DROP)\s+(TAG|USER)\b
      | CREATE\s+(READ\s+ONLY\s+)?TOKEN\b
      | PREVIEW\s+TAG\b
      | (PUBLISH|GRANT|REVOKE|USE)\b
      | SHOW\s+(TAG|TAGS|LABELS|SHAREABLE|VERSIONS|SCORING|USERS|ROLES|DATASET\s+ACCESS|EVALUATION)\b
      | (SET|RESET)\s+SESSION\s+AUTHORIZATION\b
      | EVALUATE\s+TAG\b
      | SUGGEST\s+PROMPTS\b
      | (LABEL|REMOVE)\s+EVALUATION\b
      | SAVE\s+THRESHOLD\b
      | SET\s+TARGET\b
      | (APPLY|UPDATE|REMOVE)\s+TAG\s+GROUP\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def is_dyntag_statement(sql: str) -> bool:
    """Whether `sql` is one of dyntag's own statements (not standard SQL)."""
    return bool(_OURS.match(_COMMENT.sub(" ", sql)))
