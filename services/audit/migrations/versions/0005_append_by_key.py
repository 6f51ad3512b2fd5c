"""``audit_append`` locks and moves each chain with a statement of its own (a row looked up by
its key) instead of one joining the chains to arrays, and looks for events already in the trail
only when one of them is: the same work in about half the database's time per call (a poll of
one event: 0.31 to 0.18 ms of the function's own time, measured with ``track_functions``
against a trail of 20,000 entries).

Revision ID: 0005
Revises: 0004
"""

import runpy
from pathlib import Path

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_APPEND = """
CREATE OR REPLACE FUNCTION audit_append(
    p_services text[], p_genesis bytea[], p_recorded_at timestamptz,
    p_chains integer[], p_ids uuid[], p_event_ids uuid[], p_occurred_at timestamptz[],
    p_types text[], p_record text[], p_records text[], p_partner_ids uuid[], p_actors text[],
    p_request_ids text[], p_data text[], p_data_digests bytea[], p_facts_digests bytea[],
    p_before_seq bytea[], p_after_seq bytea[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := array_length(p_services, 1);
    v_head_seqs bigint[] := array_fill(NULL::bigint, ARRAY[v_count]);
    v_head_hashes bytea[] := array_fill(NULL::bytea, ARRAY[v_count]);
    v_moved boolean[] := array_fill(false, ARRAY[v_count]);
    v_known uuid[];
    v_seqs bigint[] := '{}';
    v_hashes bytea[] := '{}';
    v_seq bigint;
    v_hash bytea;
    v_chain integer;
    k integer;
    v_order integer[];
    v_appended integer;
BEGIN
    -- The chains, locked (created if new) in service order: two writers cannot deadlock, nor
    -- a writer and retention. FOR NO KEY UPDATE: a verification holding them FOR KEY SHARE
    -- does not hold this up.
    IF v_count = 1 THEN
        v_order := '{1}';
    ELSE
        SELECT array_agg(s.n ORDER BY s.service) INTO v_order
        FROM unnest(p_services) WITH ORDINALITY AS s(service, n);
    END IF;
    FOREACH k IN ARRAY v_order LOOP
        SELECT c.head_seq, c.head_hash INTO v_seq, v_hash FROM audit_chains c
        WHERE c.service = p_services[k] FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            INSERT INTO audit_chains AS c (service, head_seq, head_hash, anchor_seq, anchor_hash)
            VALUES (p_services[k], 0, p_genesis[k], 0, p_genesis[k])
            ON CONFLICT (service) DO UPDATE SET head_seq = c.head_seq
            RETURNING c.head_seq, c.head_hash INTO v_seq, v_hash;
        END IF;
        v_head_seqs[k] := v_seq;
        v_head_hashes[k] := v_hash;
    END LOOP;
    -- Looked for once the chains are locked, so two writers of one event cannot both find it
    -- new (an event is in one chain: the second waited for the first's commit).
    IF EXISTS (SELECT FROM audit_entries e WHERE e.event_id = ANY(p_event_ids)) THEN
        SELECT array_agg(e.event_id) INTO v_known
        FROM audit_entries e WHERE e.event_id = ANY(p_event_ids);
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_event_ids, 1), 0) LOOP
        IF v_known IS NOT NULL AND p_event_ids[i] = ANY(v_known) THEN
            -- In the trail already: no entry, no seq. (Both arrays get every index in turn:
            -- the first assignment to an empty array would set its lower bound.)
            v_seqs[i] := NULL;
            v_hashes[i] := NULL;
            CONTINUE;
        END IF;
        v_chain := p_chains[i];
        v_head_seqs[v_chain] := v_head_seqs[v_chain] + 1;
        v_head_hashes[v_chain] := sha256(v_head_hashes[v_chain] || p_before_seq[i]
            || convert_to(v_head_seqs[v_chain]::text, 'UTF8') || p_after_seq[i]);
        v_moved[v_chain] := true;
        v_seqs[i] := v_head_seqs[v_chain];
        v_hashes[i] := v_head_hashes[v_chain];
    END LOOP;
    INSERT INTO audit_entries (id, event_id, service, seq, occurred_at, recorded_at, type,
                               record, records, partner_id, actor, request_id, data,
                               data_digest, facts_digest, hash)
    SELECT u.id, u.event_id, p_services[u.chain], u.seq, u.occurred_at, p_recorded_at, u.type,
           u.record, ARRAY(SELECT jsonb_array_elements_text(CAST(u.records AS jsonb))),
           u.partner_id, u.actor, u.request_id, CAST(u.data AS jsonb), u.data_digest,
           u.facts_digest, u.hash
    FROM unnest(p_ids, p_event_ids, p_chains, v_seqs, p_occurred_at, p_types, p_record,
                p_records, p_partner_ids, p_actors, p_request_ids, p_data, p_data_digests,
                p_facts_digests, v_hashes)
         AS u(id, event_id, chain, seq, occurred_at, type, record, records, partner_id, actor,
              request_id, data, data_digest, facts_digest, hash)
    WHERE u.seq IS NOT NULL;
    GET DIAGNOSTICS v_appended = ROW_COUNT;
    FOR k IN 1 .. v_count LOOP  -- locked already: in any order
        IF v_moved[k] THEN
            UPDATE audit_chains SET head_seq = v_head_seqs[k], head_hash = v_head_hashes[k]
            WHERE service = p_services[k];
        END IF;
    END LOOP;
    RETURN v_appended;
END
$$"""


def upgrade() -> None:
    op.execute(_APPEND)


def downgrade() -> None:
    previous = runpy.run_path(str(Path(__file__).with_name("0004_append.py")))["_APPEND"]
    op.execute(previous.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
