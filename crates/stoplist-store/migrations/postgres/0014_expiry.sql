-- Parts of a concatenated reply (Vonage delivers a long message part by part) carry when this
-- server stored them: the parts of a message that never completes expire 24 hours later by
-- this server's clock (a provider's received_at may be anything). Parts stored before this
-- migration take their received_at. Ended campaigns whose recipients file is still on disk
-- are found through an index of only those campaigns (the file is removed once the campaign
-- has ended and its retention has passed). Append-only: never edit a landed migration.

ALTER TABLE reply_parts ADD COLUMN stored_at BIGINT NOT NULL DEFAULT 0;
UPDATE reply_parts SET stored_at = received_at;
CREATE INDEX reply_parts_stored ON reply_parts(stored_at);
CREATE INDEX campaigns_with_file ON campaigns(finished_at) WHERE file_path IS NOT NULL;
