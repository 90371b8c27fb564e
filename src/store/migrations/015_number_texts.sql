-- The text of each number a client wrote differently from how JavaScript writes it (`37.0`, `1.00`,
-- `1.000000000000000000E-245`), as JSON pointer → text, beside the content (issue 16.4). jsonb keeps a numeric's
-- scale but writes exponents out in full and the pg driver reads every number as a JavaScript number, so the
-- text the client sent cannot come back from `content` alone. NULL (no such numbers) for almost every row.
ALTER TABLE resources ADD COLUMN number_texts jsonb;
ALTER TABLE resource_history ADD COLUMN number_texts jsonb;
