from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0007_room_last_message_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='presence',
            name='handle',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.AddField(
            model_name='presence',
            name='changed',
            field=models.DateTimeField(auto_now=True),
        ),
    ]
