encode({digest}, 'hex')
