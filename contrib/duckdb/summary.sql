-- The summary of a sharded `danekit survey` run: the numbers of
-- `danekit survey LIST --summary-only -o json` over the same list, one row per number,
-- computed from the JSON lines of every shard (one verify document per domain).
--
--   cd /out && duckdb -c ".read summary.sql"          (shard files shard-*.jsonl)
--   duckdb -c "SET VARIABLE shards = '/out/run-*/shard-*.jsonl'; .read summary.sql"
--
-- The columns: `section` is the field of the summary document (`verdict`, `domains`,
-- `outcomes`, `dnssec_signed_mx`, `with_tlsa`, `tlsa_correct_at_every_mx`,
-- `starttls_offered`, `address_outcomes`, `tls_versions`, `cipher_suites`, `key_types`,
-- `failures`), `key` the key within it (NULL for a plain count; for `verdict`, the verdict),
-- `count` the number, `percent` its share of the domains for the counts of domains. A key that
-- counts nothing has no row, as it has no entry in the document. A domain that appears in
-- more than one line (a shard run twice without --resume) is counted once.

CREATE OR REPLACE TEMP MACRO shard_files() AS
    coalesce(getvariable('shards'), 'shard-*.jsonl');

CREATE OR REPLACE TEMP TABLE docs AS
SELECT * FROM read_json(
    shard_files(),
    format = 'newline_delimited',
    filename = true,
    columns = {
        domain: 'VARCHAR',
        verdict: 'VARCHAR',
        mx_lookup: 'STRUCT(verdict VARCHAR)',
        mx: 'STRUCT(ports STRUCT(dane VARCHAR)[], addresses STRUCT(outcome VARCHAR, tls STRUCT(version VARCHAR, cipher_suite VARCHAR, leaf_key VARCHAR)[])[])[]'
    }
)
QUALIFY row_number() OVER (PARTITION BY lower(domain) ORDER BY filename) = 1;

CREATE OR REPLACE TEMP TABLE per_domain AS
SELECT
    verdict,
    coalesce(mx_lookup.verdict = 'secure', false) AS dnssec_signed_mx,
    -- A host has TLSA when some port's records are usable or unusable-only; it is correct when
    -- it has TLSA and addresses, all of them authenticated.
    list_transform(mx, lambda m: list_bool_or(list_transform(m.ports,
        lambda p: p.dane IN ('usable', 'unusable-only'))) IS TRUE) AS host_tlsa,
    list_transform(mx, lambda m: list_bool_or(list_transform(m.ports,
        lambda p: p.dane IN ('usable', 'unusable-only'))) IS TRUE
        AND len(m.addresses) > 0
        AND list_bool_and(list_transform(m.addresses, lambda a: a.outcome = 'authenticated'))
    ) AS host_correct,
    flatten(list_transform(mx, lambda m: m.addresses)) AS addresses,
    flatten(flatten(list_transform(mx, lambda m: list_transform(m.addresses, lambda a: a.tls))))
        AS tls
FROM docs;

CREATE OR REPLACE TEMP TABLE counts AS
WITH d AS (
    SELECT
        *,
        list_bool_or(host_tlsa) IS TRUE AS with_tlsa,
        len(host_correct) > 0 AND list_bool_and(host_correct) AS correct_everywhere,
        -- Why a domain did not pass: its first address (MX by MX) whose outcome is a failure,
        -- else the MX lookup.
        CASE WHEN verdict <> 'pass' THEN coalesce(list_filter(
            list_transform(addresses, lambda a: a.outcome),
            lambda o: o NOT IN ('authenticated', 'no-dane', 'tls-required'))[1], 'mx-lookup')
        END AS failure
    FROM per_domain
),
total AS (SELECT count(*) AS n FROM d),
addresses AS (SELECT unnest(addresses) AS a FROM d),
handshakes AS (SELECT unnest(tls) AS t FROM d),
rows AS (
    SELECT 1 AS o, 'domains' AS section, NULL AS key, count(*) AS count, true AS of_domains FROM d
    UNION ALL
    SELECT 2, 'outcomes', verdict, count(*), true FROM d GROUP BY verdict
    UNION ALL
    SELECT 3, 'dnssec_signed_mx', NULL, count(*) FILTER (WHERE dnssec_signed_mx), true FROM d
    UNION ALL
    SELECT 4, 'with_tlsa', NULL, count(*) FILTER (WHERE with_tlsa), true FROM d
    UNION ALL
    SELECT 5, 'tlsa_correct_at_every_mx', NULL, count(*) FILTER (WHERE correct_everywhere), true
    FROM d
    UNION ALL
    SELECT 6, 'starttls_offered', NULL, count(*) FILTER (WHERE len(tls) > 0), true FROM d
    UNION ALL
    SELECT 7, 'address_outcomes', a.outcome, count(*), false FROM addresses GROUP BY a.outcome
    UNION ALL
    SELECT 8, 'failures', failure, count(*), true FROM d WHERE failure IS NOT NULL
    GROUP BY failure
    UNION ALL
    SELECT 9, 'tls_versions', t.version, count(*), false FROM handshakes GROUP BY t.version
    UNION ALL
    SELECT 10, 'cipher_suites', t.cipher_suite, count(*), false FROM handshakes
    GROUP BY t.cipher_suite
    UNION ALL
    SELECT 11, 'key_types', coalesce(t.leaf_key, 'unknown'), count(*), false FROM handshakes
    GROUP BY coalesce(t.leaf_key, 'unknown')
)
SELECT o, section, key, count,
       CASE WHEN of_domains
           THEN round(100.0 * count / greatest((SELECT n FROM total), 1), 1)::DOUBLE END
           AS percent
FROM rows;

-- The verdict of the whole run: fail when any domain failed, else indeterminate when any was
-- undecided, else pass.
SELECT section, key, count, percent FROM (
    SELECT 0 AS o, 'verdict' AS section,
           CASE WHEN count(*) FILTER (WHERE section = 'outcomes' AND key = 'fail') > 0 THEN 'fail'
                WHEN count(*) FILTER (WHERE section = 'outcomes' AND key = 'indeterminate') > 0
                    THEN 'indeterminate'
                ELSE 'pass' END AS key,
           NULL AS count, NULL AS percent
    FROM counts
    UNION ALL
    SELECT o, section, key, count, percent FROM counts
)
ORDER BY o, key;
