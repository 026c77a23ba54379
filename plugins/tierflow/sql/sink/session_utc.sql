-- Timestamps as text in UTC: how a CSV COPY of keys writes a timestamp key.
set local timezone = 'UTC'
