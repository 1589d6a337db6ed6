-- Who saved each network: 'teacher', 'student' (owner = a hash of the browser's token), or
-- 'nobody' for networks saved before owners existed (only the teacher may replace or remove them).
ALTER TABLE networks ADD COLUMN owner_role TEXT NOT NULL DEFAULT 'nobody';
ALTER TABLE networks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
