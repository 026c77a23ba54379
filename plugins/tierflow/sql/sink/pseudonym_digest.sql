sha256({outer} || sha256({inner} || convert_to({column}, 'UTF8')))
