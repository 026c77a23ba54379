-- Read the state another transaction exported (the id is checked by the caller).
set transaction snapshot '{snapshot}'
