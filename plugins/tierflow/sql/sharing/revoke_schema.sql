revoke all on schema {schema} from {role}
