delete from share_secret.consumer_key
