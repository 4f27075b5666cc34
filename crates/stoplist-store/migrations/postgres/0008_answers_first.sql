-- Answers to replies (opt-out and opt-in confirmations, help) are claimed before campaign
-- messages, so that a STOP during a 100,000-message campaign is confirmed within seconds, not
-- after the campaign: the dispatcher claims from this index first.
CREATE INDEX messages_answers_queue ON messages(next_attempt_at, id)
    WHERE status = 'queued' AND kind <> 'campaign';
