deploy mes-labels 2.4.0
