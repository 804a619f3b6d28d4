SELECT tag_name, count(*) FROM dt_topics_visual WHERE threshold_decision GROUP BY 1
