-- One Asia/Shanghai day of GPS points: a partition from that day's midnight to the next.
create table thematic.{name} partition of thematic.truck_gps
    for values from ('{start}') to ('{end}')
