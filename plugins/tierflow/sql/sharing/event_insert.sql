insert into sharing.event (at, actor, kind, subject, reason, payload)
values (cast(:at as timestamptz), :actor, :kind, :subject, :reason, cast(:payload as jsonb))
