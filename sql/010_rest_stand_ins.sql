-- The days (and datasets) a REST load stood in for while their day file was not out, rows
-- or not: option contracts come from flat files only, so an options day loaded from REST
-- holds no row to find. The supersession sensor reloads each from its file once it is
-- published (market_data/supersession.py); a flat-file load of the day removes it.
CREATE TABLE IF NOT EXISTS rest_stand_ins (
    day     date NOT NULL,
    dataset text NOT NULL,
    since   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, dataset)
);
