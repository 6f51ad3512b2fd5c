"""One statement appends a batch of events to their chains: ``audit_append`` locks (or creates)
the chains concerned in service order, leaves out the events already in the trail, numbers the
others after their chain's head, chains their hashes, inserts them and moves the heads. It
replaces four statements (lock, look-up, insert, heads), each a round trip that cost the worker
more CPU than everything else it did for an event.

The worker encodes each entry as the chain defines it (``trail.chain``), in two halves around
its seq, which only the locked head decides: the hash is SHA-256 over the previous hash, the
first half, the seq in decimal and the second half, the very bytes ``Entry.encoded`` gives.
Verification recomputes every hash from the entries alone, so nothing here is trusted more
than the recorder was before.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_APPEND = """
CREATE FUNCTION audit_append(
    p_services text[], p_genesis bytea[], p_recorded_at timestamptz,
    p_chains integer[], p_ids uuid[], p_event_ids uuid[], p_occurred_at timestamptz[],
    p_types text[], p_record text[], p_records text[], p_partner_ids uuid[], p_actors text[],
    p_request_ids text[], p_data text[], p_data_digests bytea[], p_facts_digests bytea[],
    p_before_seq bytea[], p_after_seq bytea[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_head_seqs bigint[];
    v_head_hashes bytea[];
    v_known uuid[];
    v_seqs bigint[] := '{}';
    v_hashes bytea[] := '{}';
    v_chain integer;
    v_appended integer;
BEGIN
    -- The chains, created or locked in service order (two writers cannot deadlock); no key
    -- column changes, so a verification holding them FOR KEY SHARE does not hold this up.
    WITH locked AS (
        INSERT INTO audit_chains AS c (service, head_seq, head_hash, anchor_seq, anchor_hash)
        SELECT s.service, 0, s.genesis, 0, s.genesis
        FROM unnest(p_services, p_genesis) AS s(service, genesis)
        ORDER BY s.service
        ON CONFLICT (service) DO UPDATE SET head_seq = c.head_seq
        RETURNING c.service, c.head_seq, c.head_hash)
    SELECT array_agg(l.head_seq ORDER BY s.n), array_agg(l.head_hash ORDER BY s.n)
    INTO v_head_seqs, v_head_hashes
    FROM unnest(p_services) WITH ORDINALITY AS s(service, n) JOIN locked l USING (service);
    -- Looked for once the chains are locked, so two writers of one event cannot both find it
    -- new (an event is in one chain: the second waited for the first's commit).
    SELECT array_agg(e.event_id) INTO v_known
    FROM audit_entries e WHERE e.event_id = ANY(p_event_ids);
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
    IF v_appended > 0 THEN
        UPDATE audit_chains c SET head_seq = h.seq, head_hash = h.hash
        FROM unnest(p_services, v_head_seqs, v_head_hashes) AS h(service, seq, hash)
        WHERE c.service = h.service AND c.head_seq <> h.seq;
    END IF;
    RETURN v_appended;
END
$$"""


def upgrade() -> None:
    op.execute(_APPEND)


def downgrade() -> None:
    op.execute("DROP FUNCTION audit_append(text[], bytea[], timestamptz, integer[], uuid[], "
               "uuid[], timestamptz[], text[], text[], text[], uuid[], text[], text[], text[], "
               "bytea[], bytea[], bytea[], bytea[])")
