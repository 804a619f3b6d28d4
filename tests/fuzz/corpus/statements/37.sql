LABEL EVALUATION OF TAG 'football' IN GROUP topics FROM FILE 'labels.csv'
