-- A native answer to a Twiin invitation the placer has not selected yet (issue 18): the candidate may not see the
-- patient before the selection, so its visit record and findings are not written then. They wait here, one row
-- per invitation (the latest answer's), as the mapped record (JSON text: number texts kept), and are written in
-- the selecting transaction; when the invitation ends without selection (not selected, refused) the row is deleted.
CREATE TABLE withheld_answers (
  task_id text PRIMARY KEY,
  sender_ura text NOT NULL,
  sequence integer NOT NULL,
  mapped text NOT NULL,
  received timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON withheld_answers TO gateway_app;
