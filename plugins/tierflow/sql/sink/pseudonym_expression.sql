encode(sha256((select outer_pad from pg_temp.pseudonym_key) || sha256((select inner_pad from pg_temp.pseudonym_key) || convert_to({column}, 'UTF8'))), 'hex')
