select code from ref.division
where tier = 'township'
