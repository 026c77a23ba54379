comment on schema {schema} is {fingerprint}
