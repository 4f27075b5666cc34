-- The opt-out list pages newest first by id within an account (the Opt Out Manager and its
-- exports): an index that fits that order, instead of sorting the account's list per page.
CREATE INDEX opt_outs_account_id ON opt_outs(account_id, id);
