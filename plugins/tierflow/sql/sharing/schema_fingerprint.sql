select obj_description(to_regnamespace(:s), 'pg_namespace')
