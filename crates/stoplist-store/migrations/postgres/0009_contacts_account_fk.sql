-- A contact's account is its group's account, and the group's own foreign key (with its
-- ON DELETE CASCADE) already ties every contact to a real group of a real account; accounts
-- are never deleted. The second foreign key, on contacts.account_id, protected nothing more
-- and cost PostgreSQL a trigger call for every inserted contact: dropping it took a
-- 1,000,000-row import from 18.6 s to 14.7 s (docs/benchmarks.md). SQLite checks foreign keys
-- inline, for little, and would need the table rebuilt to drop one: its schema keeps it.
ALTER TABLE contacts DROP CONSTRAINT contacts_account_id_fkey;
