revoke all on {relation} from {role}
